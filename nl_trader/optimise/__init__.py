"""Optimisation: search spaces over a spec's numbers, walk-forward windows, overfitting measures.

- ``space.py``: which numbers vary (paths into the spec), their ranges, constraints, the grid;
- ``windows.py``: rolling and anchored walk-forward windows, MT5's forward split;
- ``overfitting.py``: the deflated Sharpe ratio and the probability of backtest overfitting.
"""

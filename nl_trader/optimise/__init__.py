"""Optimisation: search spaces over a spec's numbers, walk-forward windows, overfitting measures.

- ``space.py``: which numbers vary (paths into the spec), their ranges, constraints, the grid;
- ``windows.py``: rolling and anchored walk-forward windows, MT5's forward split;
- ``overfitting.py``: the deflated Sharpe ratio and the probability of backtest overfitting.
"""

from typing import Literal

Method = Literal["grid", "random", "tpe", "cmaes", "nsga2"]
METHODS: tuple[Method, ...] = ("grid", "random", "tpe", "cmaes", "nsga2")
"""The searches a study runs (``study``): the grid, random, and Optuna's TPE, CMA-ES, NSGA-II.
Here, apart from ``study``, so that naming them does not load Optuna."""

"""The fill engine: one simulated broker for the simulated route, the fake terminal and backtests."""

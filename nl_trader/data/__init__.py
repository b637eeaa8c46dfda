"""Bars: loaders for MT5, MT4, HistData, bid/ask and CSV files, time zones, checks,
resampling, and the bundled deterministic sample."""

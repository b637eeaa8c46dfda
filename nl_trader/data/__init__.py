"""Bars: the bundled sample, and (later) loaders for MT5, HistData and CSV files."""

"""The backtest stage: the engine over bars, the statistics of its report, the HTML/JSON report."""

"""The live route: terminal port, MetaTrader5 adapter, fake terminal and the MT5 executor."""

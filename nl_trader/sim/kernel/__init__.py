"""The fill engine's core: the simulated trade server's state and rules, compiled with numba.

``SimBroker`` (``sim/broker.py``) is the product's one simulated broker; this module is its engine room.
The broker's state lives in the numpy tables of ``State`` and every rule that changes it (request
checks, fills, stops, expiries, stop-outs, swaps, margin, currency conversion) is a function here,
so that the order API, the fake terminal and compiled backtest loops run the same code.
The rules themselves are documented in broker.py's module docstring.

Layout: tables are row-per-record float64 and int64 pairs with the column indices below; counts
and ticket counters live in ``acct_i``. Text (symbols, comments) is held by the broker as ids:
a comment id >= 0 indexes the broker's text table, a negative one is a comment this module
writes (``[sl 1.0842]``) with its number in the row's comment-value column. Tables are filled in
insertion order, as MT5 lists records, and removal keeps that order. The caller keeps room in
the tables (``SimBroker.reserve``, ``backtest.loop.has_room``); a function here never grows them.

A rejected request returns a rejection code (an index of ``REJECTIONS``), 0 when accepted.

The kernel's files, in the order they build on each other: ``layout`` (the tables, ``State``,
codes and lookups), ``money`` (conversion, profit, equity, margin), ``book`` (events, orders,
deals, positions), ``path`` (a quote and what reacts to it; a bar's walk) and ``requests`` (the
checks and rules of each trade request, and ``send``). This package's namespace is all of them.
"""

# The kernel is one namespace to its callers (``kernel.send``, ``kernel.P_VOLUME``).
from nl_trader.sim.kernel.book import *  # noqa: F403
from nl_trader.sim.kernel.layout import *  # noqa: F403
from nl_trader.sim.kernel.money import *  # noqa: F403
from nl_trader.sim.kernel.path import *  # noqa: F403
from nl_trader.sim.kernel.requests import *  # noqa: F403

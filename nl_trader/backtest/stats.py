"""The figures of a backtest report, as the MetaTrader 5 Strategy Tester defines them.

``compute_stats`` takes the deals of a run (MT5 ``TradeDeal`` dicts, as ``DealRecord.as_dict()``
or ``history_deals_get`` give them), the equity and balance curves (one value per bar) and the
initial deposit, and returns a frozen ``TesterStats``. Money is in the deposit currency; a field
ending in ``_pct`` is a percentage (``12.5`` means 12.5 %); a figure that is undefined for the run
(a profit factor without losses, a Sharpe ratio over one day) is ``None``, never NaN.

What a trade is (MT5's report counts closing deals, not positions):
    * A trade is one closing deal: entry OUT (a close or partial close), INOUT (a netting
      reversal) or OUT_BY (a close by an opposite position; each of the two deals is a trade).
      Deals of type buy (0) and sell (1) only: balance, credit and other account operations are
      not trades.
    * Its result (``ClosedTrade.net_profit``) is the closing deal's profit + swap + commission +
      fee, plus the entry commission (and fee) of the volume it closes: each position's IN-deal
      commissions are pooled and allocated pro rata to the volume each closing deal closes, so
      closing 1 lot of a 3-lot position carries a third of what is left in the pool.
    * A reversal deal's volume is the old position's volume plus the new one's; its own commission
      is split the same way: the share of the closed volume goes to the trade, the rest becomes the
      entry commission of the new position (which keeps the position id).
    * Long trade: it closes a buy position (the closing deal is a sell); short: it closes a sell.
    * Win: result > 0; loss: result < 0; a trade of exactly 0 is neither, and it ends any run of
      wins or losses.
    * Entry commission of volume still open at the end belongs to no trade, so it is in the
      balance and equity but not in the net profit (MT5's tester closes everything at the end, so
      there it does not arise).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from nl_trader import mt5
from nl_trader.errors import InvalidInputError

TRADING_DAYS_PER_YEAR = 252
DAYS_PER_YEAR = 365.25
SECONDS_PER_YEAR = DAYS_PER_YEAR * 86_400
# Trade results are sums of cent amounts and pro-rata shares; below 1e-8 of the deposit currency a
# difference is float noise, and it must not turn a break-even trade into a win.
_RESULT_DECIMALS = 8
_ZERO_STDEV = 1e-12
# exp() overflows above ~709: a CAGR that large (a big gain over minutes) is no figure at all.
_MAX_LOG_GROWTH = 700.0
_REQUIRED_DEAL_KEYS = (
    "ticket",
    "time",
    "type",
    "entry",
    "position_id",
    "volume",
    "commission",
    "swap",
    "profit",
)
_CLOSING_ENTRIES = frozenset({mt5.DEAL_ENTRY_OUT, mt5.DEAL_ENTRY_INOUT, mt5.DEAL_ENTRY_OUT_BY})
_TRADE_TYPES = frozenset({mt5.DEAL_TYPE_BUY, mt5.DEAL_TYPE_SELL})


class _Figures(BaseModel):
    # NaN or infinity in a report is a bug: refuse it here rather than print it.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One closing deal and its result (see the module docstring for what counts).

    A plain frozen dataclass, not a model: a run makes one per closing deal (thousands per
    backtest, thousands of backtests per optimisation). A NaN or infinite money figure is refused
    here, as the report's figures refuse them."""

    deal_ticket: int
    position_id: int
    time: datetime
    side: Literal["long", "short"]
    volume_lots: float
    net_profit: float
    # What the net is made of: the closing deal's profit and swap, and the commission (and fee)
    # of both sides: the closing deal's and the entry's share. net = profit + swap + commission.
    profit: float = 0.0
    swap: float = 0.0
    commission: float = 0.0

    def __post_init__(self) -> None:
        money = (self.volume_lots, self.net_profit, self.profit, self.swap, self.commission)
        if not all(math.isfinite(value) for value in money):
            raise InvalidInputError(
                [f"trade {self.deal_ticket}: a volume or money figure is not a finite number"],
                what="closed trade",
            )


class DrawdownStats(_Figures):
    """MT5's three drawdowns of one curve (balance or equity), from the initial deposit on.

    ``absolute_money``: initial deposit minus the lowest value, 0 if it never went below.
    ``maximal_money``: the largest fall from a running peak to a later value, in money, and
    ``maximal_pct`` the same fall as a percentage of that peak.
    ``relative_pct``: the largest such fall as a percentage of its peak, and ``relative_money`` the
    money of that fall. The two may come from different falls: after 12,000 -> 9,000 (3,000, 25 %)
    and 30,000 -> 25,000 (5,000, 16.7 %), maximal is 5,000 (16.7 %) and relative 25 % (3,000).
    """

    absolute_money: float
    maximal_money: float
    maximal_pct: float
    relative_pct: float
    relative_money: float


class Streak(_Figures):
    """A run of consecutive winning (or losing) trades: how many, and their summed result."""

    count: int
    money: float


class YearReturns(_Figures):
    """One year of the monthly returns table.

    ``month_pct[0]`` is January. Each month's return is its last equity against the previous
    month's last equity (the initial deposit before the first month); a month without bars is
    None and the next month is measured from the last month that had bars. ``year_pct`` is the
    year's last equity against the equity before its first month (compounded, not summed).
    """

    year: int
    month_pct: tuple[float | None, ...] = Field(min_length=12, max_length=12)
    year_pct: float | None


class TesterStats(_Figures):
    """The figures of MT5's Strategy Tester report for one run.

    Money in the deposit currency, ``_pct`` fields in percent, None where a figure is undefined.

    * ``total_net_profit``: the sum of all trade results (= gross profit + gross loss).
    * ``gross_profit`` / ``gross_loss``: sums of the positive / negative results (loss <= 0).
    * ``profit_factor``: gross profit / |gross loss|; None without losing trades.
    * ``expected_payoff``: net profit / total trades; None without trades.
    * ``recovery_factor``: net profit / the equity drawdown maximal in money; None without one.
    * ``sharpe_ratio``: (mean daily return - risk-free rate / 252) / sample stdev of daily returns,
      times sqrt(252). A daily return is the day's last equity against the previous day's (the
      initial deposit before the first day); days are UTC calendar days that have bars.
    * ``sortino_ratio``: the same excess mean over the downside deviation
      sqrt(mean(min(r - rf_daily, 0)^2)) over all days, times sqrt(252); None without a down day.
    * ``sharpe_ratio_per_trade``: MT5's classic per-trade figure (AHPR - 1) / stdev(HPR), with a
      risk-free rate of 0 as MT5's tester takes it.
    * ``ahpr`` / ``ghpr``: arithmetic / geometric mean of the holding period returns, as ratios
      (1.0012 = +0.12 % per trade). HPR_i = B_i / B_(i-1) with B_0 the initial deposit and
      B_i = B_(i-1) + result of trade i; GHPR = (B_n / B_0) ** (1 / n). None when a balance on the
      way is not positive.
    * ``cagr_pct``: (final equity / initial deposit) ** (1 / years) - 1, years from the first bar's
      time to the last one's (365.25 days each); -100 when the final equity is not positive.
    * ``exposure_pct``: the share of bars with an open position (from ``in_market``).
    * ``balance_drawdown`` / ``equity_drawdown``: see ``DrawdownStats``.
    * ``short_won_pct`` / ``long_won_pct``: winning share of the short / long trades.
    * ``profit_trades_pct`` / ``loss_trades_pct``: share of all trades (break-even trades are in
      neither count, so the two need not add up to 100).
    * ``largest_*_trade`` / ``average_*_trade``: over winning (profit) or losing (loss) trades.
    * ``max_consecutive_wins`` / ``max_consecutive_losses``: the longest run by count, with its
      money; ``maximal_consecutive_profit`` / ``maximal_consecutive_loss``: the run with the largest
      profit / deepest loss, with its count. Ties go to the earliest run; no run gives count 0.
    * ``average_consecutive_wins`` / ``average_consecutive_losses``: mean length of the runs.
    * ``monthly_returns``: see ``YearReturns``, one entry per calendar year with bars.
    """

    initial_deposit: float
    final_balance: float
    final_equity: float
    bars: int
    total_net_profit: float
    gross_profit: float
    gross_loss: float
    profit_factor: float | None
    expected_payoff: float | None
    recovery_factor: float | None
    sharpe_ratio: float | None
    sortino_ratio: float | None
    sharpe_ratio_per_trade: float | None
    ahpr: float | None
    ghpr: float | None
    cagr_pct: float | None
    exposure_pct: float | None
    balance_drawdown: DrawdownStats
    equity_drawdown: DrawdownStats
    total_trades: int
    short_trades: int
    short_won_pct: float | None
    long_trades: int
    long_won_pct: float | None
    profit_trades: int
    profit_trades_pct: float | None
    loss_trades: int
    loss_trades_pct: float | None
    largest_profit_trade: float | None
    largest_loss_trade: float | None
    average_profit_trade: float | None
    average_loss_trade: float | None
    max_consecutive_wins: Streak
    max_consecutive_losses: Streak
    maximal_consecutive_profit: Streak
    maximal_consecutive_loss: Streak
    average_consecutive_wins: float | None
    average_consecutive_losses: float | None
    monthly_returns: tuple[YearReturns, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-able values (nested dicts, lists, numbers, None)."""
        return self.model_dump(mode="json")


# ---- trades -------------------------------------------------------------------------------------
@dataclass(slots=True)
class _OpenPosition:
    volume_lots: float = 0.0
    entry_commission: float = 0.0  # negative: the unallocated cost of the IN deals


def closed_trades(deals: Iterable[Mapping[str, Any]]) -> list[ClosedTrade]:
    """Turn deals into trades, in time order (then ticket order), with entry commission allocated.

    Deals that are not buys or sells (the deposit, credit, charges) are skipped. A closing deal of
    a position whose IN deals are not in ``deals`` gets no entry commission.
    """
    checked = [_checked_deal(index, deal) for index, deal in enumerate(deals)]
    checked.sort(key=lambda deal: (int(deal["time"]), int(deal["ticket"])))
    positions: dict[int, _OpenPosition] = {}
    trades: list[ClosedTrade] = []
    for deal in checked:
        if int(deal["type"]) not in _TRADE_TYPES:
            continue
        entry = int(deal["entry"])
        position = positions.setdefault(int(deal["position_id"]), _OpenPosition())
        volume = float(deal["volume"])
        costs = float(deal["commission"]) + float(deal.get("fee", 0.0))
        if entry == mt5.DEAL_ENTRY_IN:
            position.volume_lots = round(position.volume_lots + volume, 8)
            position.entry_commission += costs
            continue
        if entry not in _CLOSING_ENTRIES:
            continue
        closed = min(position.volume_lots, volume) if position.volume_lots > 0 else volume
        own_costs = costs
        if entry == mt5.DEAL_ENTRY_INOUT and volume > 0:
            own_costs = costs * closed / volume
        allocated = _allocate(position, closed)
        result = float(deal["profit"]) + float(deal["swap"]) + own_costs + allocated
        trades.append(
            ClosedTrade(
                deal_ticket=int(deal["ticket"]),
                position_id=int(deal["position_id"]),
                time=datetime.fromtimestamp(int(deal["time"]), tz=UTC),
                # A sell deal closes a buy position: a long trade.
                side="long" if int(deal["type"]) == mt5.DEAL_TYPE_SELL else "short",
                volume_lots=closed,
                net_profit=round(result, _RESULT_DECIMALS) + 0.0,
                profit=float(deal["profit"]),
                swap=float(deal["swap"]),
                commission=round(own_costs + allocated, _RESULT_DECIMALS) + 0.0,
            )
        )
        if entry == mt5.DEAL_ENTRY_INOUT:
            # The rest of the reversal deal opens the new position under the same id.
            position.volume_lots = round(volume - closed, 8)
            position.entry_commission = costs - own_costs
    return trades


def _allocate(position: _OpenPosition, closed_lots: float) -> float:
    """Take the closed volume's pro-rata share of the position's entry commission out of the pool."""
    if position.volume_lots <= 0:
        return 0.0
    share = min(closed_lots / position.volume_lots, 1.0)
    allocated = position.entry_commission * share
    position.entry_commission -= allocated
    position.volume_lots = max(round(position.volume_lots - closed_lots, 8), 0.0)
    if position.volume_lots == 0:
        position.entry_commission = 0.0
    return allocated


def _checked_deal(index: int, deal: Mapping[str, Any]) -> Mapping[str, Any]:
    missing = [key for key in _REQUIRED_DEAL_KEYS if key not in deal]
    if missing:
        raise InvalidInputError(
            [
                f"deals[{index}].{key}: missing (a deal needs MT5's TradeDeal fields)"
                for key in missing
            ],
            what="deals",
        )
    return deal


# ---- curves -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Curve:
    times: pd.DatetimeIndex  # UTC, ascending
    values: np.ndarray  # float64, finite


def _curve(name: str, series: pd.Series | None) -> _Curve:
    """Check a per-bar series (tz-aware index, finite values) and return it in time order, in UTC."""
    if series is None:
        return _Curve(pd.DatetimeIndex([], tz=UTC), np.zeros(0))
    if not isinstance(series, pd.Series):
        raise InvalidInputError([f"{name}: expected a pandas Series, got {type(series).__name__}"])
    index = series.index
    if not isinstance(index, pd.DatetimeIndex):
        raise InvalidInputError(
            [f"{name}: the index must be timestamps, got {type(index).__name__}"]
        )
    if index.tz is None:
        raise InvalidInputError(
            [f"{name}: the index must be timezone-aware (UTC), got naive times"]
        )
    ordered = series if index.is_monotonic_increasing else series.sort_index()
    values = ordered.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        first = pd.DatetimeIndex(ordered.index)[int(np.argmax(bad))]
        raise InvalidInputError(
            [f"{name}: {int(bad.sum())} value(s) are NaN or infinite, first at {first}"]
        )
    return _Curve(pd.DatetimeIndex(ordered.index).tz_convert(UTC), values)


def _drawdown(initial_deposit: float, values: np.ndarray) -> DrawdownStats:
    """MT5's absolute, maximal and relative drawdown of a curve that starts at the deposit."""
    values = np.asarray(values, dtype=float)
    if not values.size:
        return DrawdownStats(
            absolute_money=0.0,
            maximal_money=0.0,
            maximal_pct=0.0,
            relative_pct=0.0,
            relative_money=0.0,
        )
    # The first peak is the deposit, so every peak is positive and the percentage is defined.
    peak = np.maximum.accumulate(np.maximum(values, initial_deposit))
    fall = peak - values
    fall_pct = fall / peak * 100
    worst = int(np.argmax(fall))  # the first of equal falls, as a running maximum would keep
    deepest = int(np.argmax(fall_pct))
    maximal_money, maximal_pct = (
        (float(fall[worst]), float(fall_pct[worst])) if fall[worst] > 0 else (0.0, 0.0)
    )
    relative_pct, relative_money = (
        (float(fall_pct[deepest]), float(fall[deepest])) if fall_pct[deepest] > 0 else (0.0, 0.0)
    )
    return DrawdownStats(
        absolute_money=max(initial_deposit - float(values.min()), 0.0),
        maximal_money=maximal_money,
        maximal_pct=maximal_pct,
        relative_pct=relative_pct,
        relative_money=relative_money,
    )


def _with_lows(equity: _Curve, equity_low: _Curve) -> np.ndarray:
    """Each bar's worst equity before its closing equity, so a peak-to-trough sees the dip."""
    if not equity_low.values.size:
        return equity.values
    strays = equity_low.times.difference(equity.times)
    if len(strays):
        raise InvalidInputError(
            [f"equity_low: {len(strays)} time(s) are not bars of equity, first {strays.min()}"]
        )
    series = pd.Series(equity_low.values, index=equity_low.times)
    lows = series[~series.index.duplicated(keep="last")].reindex(equity.times).to_numpy()
    dips = np.minimum(lows, equity.values)  # NaN where a bar has no low
    path = np.column_stack([dips, equity.values]).ravel()
    return np.asarray(path[~np.isnan(path)], dtype=float)


def _last_per(times: pd.DatetimeIndex, values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The last value of each run of equal keys (the times are in order, so keys group in runs)."""
    if not len(values):
        return np.zeros(0)
    last = np.append(keys[1:] != keys[:-1], True)
    return np.asarray(values[last])


def _daily_returns(initial_deposit: float, equity: _Curve) -> list[float] | None:
    """Each UTC day's last equity against the day before (the deposit first); None if not defined."""
    days = equity.times.normalize().asi8
    closes = _last_per(equity.times, equity.values, days)
    previous = np.concatenate([[initial_deposit], closes[:-1]])
    if (previous <= 0).any():
        return None
    return list(closes / previous - 1)


def _sharpe_sortino(
    returns: list[float] | None, risk_free_rate: float
) -> tuple[float | None, float | None]:
    if returns is None or len(returns) < 2:
        return None, None
    rf_daily = risk_free_rate / TRADING_DAYS_PER_YEAR
    excess = statistics.fmean(returns) - rf_daily
    annualise = math.sqrt(TRADING_DAYS_PER_YEAR)
    stdev = statistics.stdev(returns)
    sharpe = excess / stdev * annualise if stdev > _ZERO_STDEV else None
    downside = math.sqrt(statistics.fmean(min(r - rf_daily, 0.0) ** 2 for r in returns))
    sortino = excess / downside * annualise if downside > _ZERO_STDEV else None
    return sharpe, sortino


def _cagr_pct(initial_deposit: float, final_equity: float, equity: _Curve) -> float | None:
    if len(equity.times) < 2:
        return None
    years = (equity.times[-1] - equity.times[0]).total_seconds() / SECONDS_PER_YEAR
    if years <= 0:
        return None
    if final_equity <= 0:
        return -100.0
    log_growth = math.log(final_equity / initial_deposit) / years
    if log_growth > _MAX_LOG_GROWTH:
        return None
    return math.expm1(log_growth) * 100


def _monthly_returns(initial_deposit: float, equity: _Curve) -> tuple[YearReturns, ...]:
    keys = np.asarray(equity.times.year * 100 + equity.times.month)
    last = np.append(keys[1:] != keys[:-1], True) if len(keys) else np.zeros(0, dtype=bool)
    month_ends = {
        (int(key) // 100, int(key) % 100): float(value)
        for key, value in zip(keys[last], equity.values[last], strict=True)
    }
    by_year: dict[int, list[float | None]] = {}
    year_start: dict[int, float] = {}
    year_end: dict[int, float] = {}
    previous = initial_deposit
    for (year, month), value in month_ends.items():
        months = by_year.setdefault(year, [None] * 12)
        year_start.setdefault(year, previous)
        year_end[year] = value
        months[month - 1] = _change_pct(previous, value)
        previous = value
    return tuple(
        YearReturns(
            year=year,
            month_pct=tuple(months),
            year_pct=_change_pct(year_start[year], year_end[year]),
        )
        for year, months in by_year.items()
    )


def _change_pct(before: float, after: float) -> float | None:
    return (after / before - 1) * 100 if before > 0 else None


# ---- trade figures ------------------------------------------------------------------------------
def _runs(results: Sequence[float], sign: int) -> list[Streak]:
    """Runs of consecutive wins (sign 1) or losses (sign -1); any other trade ends a run."""
    runs: list[Streak] = []
    count, money = 0, 0.0
    for result in [*results, 0.0]:
        if (result > 0 and sign > 0) or (result < 0 and sign < 0):
            count, money = count + 1, money + result
        elif count:
            runs.append(Streak(count=count, money=money))
            count, money = 0, 0.0
    return runs


def _holding_period_returns(
    initial_deposit: float, results: Sequence[float]
) -> tuple[float | None, float | None, float | None]:
    """AHPR, GHPR and the per-trade Sharpe ratio over the trade-by-trade balance."""
    if not results:
        return None, None, None
    balance = initial_deposit
    hprs: list[float] = []
    for result in results:
        if balance <= 0:
            return None, None, None
        hprs.append((balance + result) / balance)
        balance += result
    ahpr = statistics.fmean(hprs)
    growth = balance / initial_deposit
    ghpr = growth ** (1 / len(hprs)) if growth >= 0 else None
    sharpe = None
    if len(hprs) >= 2:
        stdev = statistics.stdev(hprs)
        sharpe = (ahpr - 1) / stdev if stdev > _ZERO_STDEV else None
    return ahpr, ghpr, sharpe


def _pct(part: int, whole: int) -> float | None:
    return part / whole * 100 if whole else None


def _won_pct(trades: Sequence[ClosedTrade]) -> float | None:
    return _pct(sum(1 for trade in trades if trade.net_profit > 0), len(trades))


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


# ---- the entry point ----------------------------------------------------------------------------
def compute_stats(
    deals: Iterable[Mapping[str, Any]],
    equity: pd.Series,
    balance: pd.Series,
    *,
    initial_deposit: float,
    risk_free_rate: float = 0.0,
    in_market: pd.Series | None = None,
    equity_low: pd.Series | None = None,
    trades: list[ClosedTrade] | None = None,
) -> TesterStats:
    """Compute the Strategy Tester figures of one run.

    ``deals``: the run's deals as MT5 ``TradeDeal`` dicts (the deposit deal may be among them; it
    is not a trade). ``equity`` and ``balance``: one value per bar, indexed by tz-aware times
    (converted to UTC). ``initial_deposit``: the money the run started with, e.g. 10_000.0 USD; the
    curves start from it. ``risk_free_rate``: annual, as a fraction (0.03 = 3 % a year), for the
    daily Sharpe and Sortino ratios. ``in_market``: one bool per bar, True while a position is
    open, for the exposure. ``equity_low``: the worst equity inside each bar (on ``equity``'s
    times), so drawdowns see intrabar dips; returns use ``equity``. ``trades``: the deals'
    ``closed_trades``, when the caller has them already.
    """
    problems: list[str] = []
    if not math.isfinite(initial_deposit) or initial_deposit <= 0:
        problems.append(f"initial_deposit: {initial_deposit} must be a positive amount")
    if not math.isfinite(risk_free_rate):
        problems.append(f"risk_free_rate: {risk_free_rate} must be a finite annual fraction")
    if problems:
        raise InvalidInputError(problems)
    equity_curve = _curve("equity", equity)
    balance_curve = _curve("balance", balance)
    low_curve = _curve("equity_low", equity_low)
    if trades is None:
        trades = closed_trades(deals)
    results = [trade.net_profit for trade in trades]
    wins = [result for result in results if result > 0]
    losses = [result for result in results if result < 0]
    longs = [trade for trade in trades if trade.side == "long"]
    shorts = [trade for trade in trades if trade.side == "short"]
    win_runs, loss_runs = _runs(results, 1), _runs(results, -1)
    no_run = Streak(count=0, money=0.0)

    net_profit = math.fsum(results)
    gross_profit, gross_loss = math.fsum(wins), math.fsum(losses)
    final_equity = float(equity_curve.values[-1]) if equity_curve.values.size else initial_deposit
    final_balance = (
        float(balance_curve.values[-1]) if balance_curve.values.size else initial_deposit
    )
    equity_drawdown = _drawdown(initial_deposit, _with_lows(equity_curve, low_curve))
    sharpe, sortino = _sharpe_sortino(_daily_returns(initial_deposit, equity_curve), risk_free_rate)
    ahpr, ghpr, sharpe_per_trade = _holding_period_returns(initial_deposit, results)
    exposure = None
    if in_market is not None and len(in_market):
        exposure = _pct(int(in_market.astype(bool).sum()), len(in_market))

    return TesterStats(
        initial_deposit=initial_deposit,
        final_balance=final_balance,
        final_equity=final_equity,
        bars=len(equity_curve.values),
        total_net_profit=net_profit,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        profit_factor=_ratio(gross_profit, -gross_loss) if losses else None,
        expected_payoff=_ratio(net_profit, len(trades)),
        recovery_factor=_ratio(net_profit, equity_drawdown.maximal_money),
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        sharpe_ratio_per_trade=sharpe_per_trade,
        ahpr=ahpr,
        ghpr=ghpr,
        cagr_pct=_cagr_pct(initial_deposit, final_equity, equity_curve),
        exposure_pct=exposure,
        balance_drawdown=_drawdown(initial_deposit, balance_curve.values),
        equity_drawdown=equity_drawdown,
        total_trades=len(trades),
        short_trades=len(shorts),
        short_won_pct=_won_pct(shorts),
        long_trades=len(longs),
        long_won_pct=_won_pct(longs),
        profit_trades=len(wins),
        profit_trades_pct=_pct(len(wins), len(trades)),
        loss_trades=len(losses),
        loss_trades_pct=_pct(len(losses), len(trades)),
        largest_profit_trade=max(wins, default=None),
        largest_loss_trade=min(losses, default=None),
        average_profit_trade=_mean(wins),
        average_loss_trade=_mean(losses),
        max_consecutive_wins=max(win_runs, key=lambda run: run.count, default=no_run),
        max_consecutive_losses=max(loss_runs, key=lambda run: run.count, default=no_run),
        maximal_consecutive_profit=max(win_runs, key=lambda run: run.money, default=no_run),
        maximal_consecutive_loss=min(loss_runs, key=lambda run: run.money, default=no_run),
        average_consecutive_wins=_mean([run.count for run in win_runs]),
        average_consecutive_losses=_mean([run.count for run in loss_runs]),
        monthly_returns=_monthly_returns(initial_deposit, equity_curve),
    )

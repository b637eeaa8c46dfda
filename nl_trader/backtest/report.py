"""The backtest report a person reviews: one self-contained HTML page, and the same figures as JSON.

The page opens offline (plotly.js is inlined): equity and balance curves, drawdown, the price with
every entry and exit, the MT5 Strategy Tester's figures, monthly returns, the trade list, the
strategy explained in English and Traditional Chinese with its spec, the costs and execution rules
assumed, the data's warnings, and provenance (spec hash, data fingerprint, engine version, date).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, Template, select_autoescape
from plotly.offline import get_plotlyjs

from nl_trader import __version__, mt5
from nl_trader.backtest.engine import ENGINE_VERSION, BacktestResult
from nl_trader.backtest.stats import TesterStats, compute_stats
from nl_trader.data.run_data import DataInfo
from nl_trader.files import write_whole
from nl_trader.spec import canonical_json
from nl_trader.translate.explain import explain

MAX_CHART_POINTS = 4_000
MAX_MARKERS = 3_000
MAX_TRADE_ROWS = 2_000
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_REASONS = {
    mt5.DEAL_REASON_SL: "stop loss",
    mt5.DEAL_REASON_TP: "take profit",
    mt5.DEAL_REASON_SO: "stop out",
}


def sample_data_info(bars: pd.DataFrame) -> DataInfo:
    """DataInfo for bars made in memory (the bundled sample): fingerprint of their values."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(bars, index=True).to_numpy().tobytes())
    source = str(bars.attrs.get("source", "in-memory bars"))
    return DataInfo(source=source, format="bars", fingerprint=digest.hexdigest(), rows=len(bars))


def report_figures(result: BacktestResult) -> TesterStats:
    return compute_stats(
        result.deals,
        result.equity,
        result.balance,
        initial_deposit=result.settings.deposit,
        in_market=result.in_market,
        equity_low=result.equity_low,
        trades=result.closed_trades(),
    )


def report_json(
    result: BacktestResult, data: DataInfo, figures: TesterStats | None = None
) -> dict[str, Any]:
    """The report's content as JSON-able data (the HTML shows the same)."""
    figures = figures or report_figures(result)
    return {
        "title": result.spec.name,
        "symbol": result.symbol,
        "timeframe": result.spec.timeframe,
        "period": [_utc(result.equity.index[0]), _utc(result.equity.index[-1])],
        "settings": result.settings.model_dump(),
        "figures": figures.to_dict(),
        "trades": _trade_rows(result),
        "rejected_orders": result.rejected,
        "skipped_entries": result.skipped,
        "warnings": result.warnings,
        "costs": dict(_costs(result)),
        "rules": dict(_rules(result)),
        "spec": json.loads(canonical_json(result.spec)),
        "spec_hash": result.spec_hash,
        "data": {
            "source": data.source,
            "format": data.format,
            "fingerprint": data.fingerprint,
            "rows": data.rows,
            "timezone": data.timezone,
            "warnings": list(data.warnings),
        },
        "provenance": _provenance(result, data),
    }


@dataclass(frozen=True)
class CriteriaView:
    """Promotion criteria to show beside the figures: (name, required, actual, passed) rows."""

    met: bool
    rows: tuple[tuple[str, str, str, bool], ...]


def write_reports(
    result: BacktestResult,
    html_path: Path,
    *,
    data: DataInfo,
    json_path: Path | None = None,
    figures: TesterStats | None = None,
    criteria: CriteriaView | None = None,
) -> TesterStats:
    """Write the HTML report (and its JSON twin, default: same name with .json); return figures.

    ``figures`` spares computing them again when the caller has them; ``criteria`` (the
    lifecycle's promotion criteria and how this run fares) are shown beside the figures.
    """
    figures = figures or report_figures(result)
    content = report_json(result, data, figures)
    if criteria is not None:
        content["criteria"] = {
            "met": criteria.met,
            "checks": [
                {"name": name, "required": required, "actual": actual, "passed": passed}
                for name, required, actual, passed in criteria.rows
            ],
        }
    html_path.parent.mkdir(parents=True, exist_ok=True)
    json_target = json_path or html_path.with_suffix(".json")
    # One line: json's C encoder only runs without indent (5x faster on a year of M1 trades).
    write_whole(json_target, json.dumps(content, ensure_ascii=False, default=str))
    write_whole(html_path, render_html(result, data, figures, content))
    return figures


# ---- HTML --------------------------------------------------------------------------------------
def render_html(
    result: BacktestResult, data: DataInfo, figures: TesterStats, content: dict[str, Any]
) -> str:
    template = _template()
    trades = content["trades"]
    view = {
        "title": result.spec.name,
        "symbol": result.symbol,
        "timeframe": result.spec.timeframe,
        "period_start": content["period"][0][:16].replace("T", " "),
        "period_end": content["period"][1][:16].replace("T", " "),
        "settings": result.settings,
        "figures": figures,
        "tester_left": _tester_left(figures),
        "tester_right": _tester_right(figures),
        "trades": trades[-MAX_TRADE_ROWS:],
        "trades_note": (
            f"Showing the last {MAX_TRADE_ROWS} of {len(trades)} trades; the JSON report lists "
            "them all."
            if len(trades) > MAX_TRADE_ROWS
            else ""
        ),
        "explain_en": explain(result.spec, "en"),
        "explain_zh": explain(result.spec, "zh-Hant"),
        "spec_hash": result.spec_hash,
        "spec_json": json.dumps(content["spec"], indent=2, ensure_ascii=False),
        "costs": _costs(result),
        "rules": _rules(result),
        "data_rows": [
            ("Source", data.source),
            ("Format", data.format),
            ("Rows", f"{data.rows:,}"),
            ("Source time zone", data.timezone),
            ("Fingerprint (sha256)", data.fingerprint),
        ],
        "warnings": list(data.warnings) + _run_warnings(result),
        "provenance": list(content["provenance"].items()),
        "price_chart_note": _price_note(result),
        "criteria": content.get("criteria"),
    }
    charts = {
        "equity": chart_div("equity", _equity_chart(result)),
        "drawdown": chart_div("drawdown", _drawdown_chart(result)),
        "price": chart_div("price", _price_chart(result)),
    }
    return template.render(r=view, charts=charts, months=_MONTHS, plotly_js=get_plotlyjs())


@functools.cache
def _template() -> Template:
    """The report's template, compiled once per process."""
    environment = Environment(
        loader=PackageLoader("nl_trader.backtest", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    environment.globals.update(money=_money, num=_num, pct=_pct, sign=_sign, heat=_heat)
    return environment.get_template("report.html.j2")


def chart_div(name: str, figure: dict[str, Any]) -> str:
    """A chart as a div and the script that draws it: Plotly JSON, no figure objects (fast)."""
    # "<\/" keeps any text in the data (a symbol name) from closing the script element.
    payload = json.dumps(figure, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (
        f'<div id="chart-{name}" class="chart"></div><script>(function(){{var f={payload};'
        f'Plotly.newPlot("chart-{name}",f.data,f.layout,{{responsive:true,displaylogo:false}});'
        "})();</script>"
    )


def _thin(count: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Indices of at most MAX_CHART_POINTS evenly spread points, plus ``keep`` (extremes)."""
    if count <= MAX_CHART_POINTS:
        return np.arange(count)
    chosen = np.linspace(0, count - 1, MAX_CHART_POINTS).astype(int)
    if keep is not None and keep.size:
        chosen = np.union1d(chosen, keep)
    return chosen


_AXIS = {"gridcolor": "#ebf0f8", "zerolinecolor": "#ebf0f8", "linecolor": "#d8dee9"}


def _figure(traces: list[dict[str, Any]], height: int = 340, y_suffix: str = "") -> dict[str, Any]:
    """Plotly JSON with the report's look (white, light grid, legend on top)."""
    return {
        "data": traces,
        "layout": {
            "height": height,
            "margin": {"l": 50, "r": 20, "t": 10, "b": 30},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "font": {"color": "#2a3f5f"},
            "legend": {"orientation": "h", "y": 1.08},
            "hovermode": "x unified",
            "xaxis": {**_AXIS, "type": "date"},
            "yaxis": {**_AXIS, "ticksuffix": y_suffix},
        },
    }


def _times(index: pd.Index[Any]) -> list[str]:
    """Chart x values: UTC wall-clock times (what the page shows, whatever the viewer's zone)."""
    return list(pd.DatetimeIndex(index).strftime("%Y-%m-%d %H:%M:%S"))


def _values(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(value) else float(value) for value in values]


def _equity_chart(result: BacktestResult) -> dict[str, Any]:
    equity, balance = result.equity, result.balance
    worst = np.array([int(np.argmin(result.equity_low.to_numpy()))])
    index = _thin(len(equity), worst)
    times = _times(equity.index[index])
    return _figure(
        [
            {
                "type": "scatter",
                "x": times,
                "y": _values(balance.to_numpy()[index]),
                "name": "balance",
                "line": {"color": "#1f4e8c", "width": 1.6},
            },
            {
                "type": "scatter",
                "x": times,
                "y": _values(equity.to_numpy()[index]),
                "name": "equity",
                "line": {"color": "#2a9d8f", "width": 1.2},
            },
        ]
    )


def _drawdown_chart(result: BacktestResult) -> dict[str, Any]:
    low = result.equity_low.to_numpy()
    peak = np.maximum.accumulate(np.maximum(result.equity.to_numpy(), result.settings.deposit))
    drawdown = (low - peak) / peak * 100.0
    index = _thin(len(low), np.array([int(np.argmin(drawdown))]))
    return _figure(
        [
            {
                "type": "scatter",
                "x": _times(result.equity.index[index]),
                "y": _values(drawdown[index]),
                "fill": "tozeroy",
                "name": "equity drawdown %",
                "line": {"color": "#b42318", "width": 1},
            }
        ],
        240,
        " %",
    )


def _price_chart(result: BacktestResult) -> dict[str, Any]:
    index = _thin(len(result.equity))
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": _times(result.equity.index[index]),
            "y": _values(np.asarray(result.close, dtype=float)[index]),
            "name": f"{result.symbol} bid close",
            "line": {"color": "#6b7785", "width": 1},
        }
    ]
    deals = [d for d in result.deals[1:] if d["type"] in (mt5.DEAL_TYPE_BUY, mt5.DEAL_TYPE_SELL)]
    deals = deals[-MAX_MARKERS:]
    groups = {
        "buy in": (
            [d for d in deals if d["entry"] == mt5.DEAL_ENTRY_IN and d["type"] == 0],
            "triangle-up",
            "#16794c",
        ),
        "sell in": (
            [d for d in deals if d["entry"] == mt5.DEAL_ENTRY_IN and d["type"] == 1],
            "triangle-down",
            "#b42318",
        ),
        "exit": ([d for d in deals if d["entry"] != mt5.DEAL_ENTRY_IN], "x", "#14213d"),
    }
    for name, (chosen, symbol, color) in groups.items():
        if not chosen:
            continue
        traces.append(
            {
                "type": "scatter",
                "x": _times(pd.to_datetime([d["time"] for d in chosen], unit="s")),
                "y": [d["price"] for d in chosen],
                "mode": "markers",
                "name": name,
                "marker": {"symbol": symbol, "size": 8, "color": color},
                "text": [f"{d['volume']} lots, deal {d['ticket']}" for d in chosen],
            }
        )
    return _figure(traces, 420)


def _price_note(result: BacktestResult) -> str:
    trades = sum(1 for d in result.deals[1:] if d["type"] in (0, 1))
    if trades > MAX_MARKERS:
        return f"Markers show the last {MAX_MARKERS} of {trades} deals."
    return "Triangles: entries (up = buy, down = sell); crosses: exits. Hover for lots and tickets."


# ---- tables ------------------------------------------------------------------------------------
def _trade_rows(result: BacktestResult) -> list[dict[str, Any]]:
    """One row per closing deal, with its position's entry and the trade's result: its profit,
    swap and commission (both sides') add up to its net."""
    trades = {trade.deal_ticket: trade for trade in result.closed_trades()}
    entries: dict[int, list[dict[str, Any]]] = {}
    rows = []
    for deal in result.deals[1:]:
        if deal["type"] not in (mt5.DEAL_TYPE_BUY, mt5.DEAL_TYPE_SELL):
            continue
        if deal["entry"] == mt5.DEAL_ENTRY_IN:
            entries.setdefault(deal["position_id"], []).append(deal)
            continue
        opened = entries.get(deal["position_id"], [])
        trade = trades.get(deal["ticket"])
        lots = sum(d["volume"] for d in opened) or 1.0
        entry_price = sum(d["price"] * d["volume"] for d in opened) / lots if opened else None
        rows.append(
            {
                "opened": _stamp(opened[0]["time"]) if opened else "",
                "closed": _stamp(deal["time"]),
                "side": "long" if deal["type"] == mt5.DEAL_TYPE_SELL else "short",
                "volume": deal["volume"],
                "entry_price": round(entry_price, result.symbol_info.digits)
                if entry_price
                else None,
                "exit_price": deal["price"],
                "reason": _reason(result, deal),
                "profit": deal["profit"],
                "commission": trade.commission if trade else deal["commission"],
                "swap": deal["swap"],
                "net_profit": trade.net_profit if trade else deal["profit"],
            }
        )
        if deal["entry"] == mt5.DEAL_ENTRY_INOUT:
            entries[deal["position_id"]] = [{**deal, "volume": 0.0}]
    return rows


def _reason(result: BacktestResult, deal: dict[str, Any]) -> str:
    """Why a deal closed: its stop, target or a stop-out, the end of the test (as MT5's report
    says), or the strategy."""
    if deal["ticket"] in result.end_of_test_deals:
        return "end of test"
    return _REASONS.get(deal["reason"], "strategy")


def _tester_left(f: TesterStats) -> list[tuple[str, str]]:
    b, e = f.balance_drawdown, f.equity_drawdown
    return [
        ("Initial deposit", _money(f.initial_deposit)),
        ("Total net profit", _money(f.total_net_profit)),
        ("Gross profit", _money(f.gross_profit)),
        ("Gross loss", _money(f.gross_loss)),
        ("Profit factor", _num(f.profit_factor)),
        ("Expected payoff", _money(f.expected_payoff)),
        ("Recovery factor", _num(f.recovery_factor)),
        ("Sharpe ratio (daily, annualised)", _num(f.sharpe_ratio)),
        ("Sharpe ratio (per trade)", _num(f.sharpe_ratio_per_trade)),
        ("Sortino ratio", _num(f.sortino_ratio)),
        ("AHPR / GHPR", f"{_num(f.ahpr, 4)} / {_num(f.ghpr, 4)}"),
        ("CAGR", _pct(f.cagr_pct)),
        ("Exposure", _pct(f.exposure_pct)),
        ("Balance drawdown absolute", _money(b.absolute_money)),
        ("Balance drawdown maximal", f"{_money(b.maximal_money)} ({_pct(b.maximal_pct)})"),
        ("Balance drawdown relative", f"{_pct(b.relative_pct)} ({_money(b.relative_money)})"),
        ("Equity drawdown absolute", _money(e.absolute_money)),
        ("Equity drawdown maximal", f"{_money(e.maximal_money)} ({_pct(e.maximal_pct)})"),
        ("Equity drawdown relative", f"{_pct(e.relative_pct)} ({_money(e.relative_money)})"),
    ]


def _tester_right(f: TesterStats) -> list[tuple[str, str]]:
    return [
        ("Total trades", str(f.total_trades)),
        ("Short trades (won %)", f"{f.short_trades} ({_pct(f.short_won_pct)})"),
        ("Long trades (won %)", f"{f.long_trades} ({_pct(f.long_won_pct)})"),
        ("Profit trades (% of total)", f"{f.profit_trades} ({_pct(f.profit_trades_pct)})"),
        ("Loss trades (% of total)", f"{f.loss_trades} ({_pct(f.loss_trades_pct)})"),
        ("Largest profit trade", _money(f.largest_profit_trade)),
        ("Largest loss trade", _money(f.largest_loss_trade)),
        ("Average profit trade", _money(f.average_profit_trade)),
        ("Average loss trade", _money(f.average_loss_trade)),
        (
            "Maximum consecutive wins ($)",
            f"{f.max_consecutive_wins.count} ({_money(f.max_consecutive_wins.money)})",
        ),
        (
            "Maximum consecutive losses ($)",
            f"{f.max_consecutive_losses.count} ({_money(f.max_consecutive_losses.money)})",
        ),
        (
            "Maximal consecutive profit (count)",
            f"{_money(f.maximal_consecutive_profit.money)} ({f.maximal_consecutive_profit.count})",
        ),
        (
            "Maximal consecutive loss (count)",
            f"{_money(f.maximal_consecutive_loss.money)} ({f.maximal_consecutive_loss.count})",
        ),
        ("Average consecutive wins", _num(f.average_consecutive_wins)),
        ("Average consecutive losses", _num(f.average_consecutive_losses)),
    ]


def _costs(result: BacktestResult) -> list[tuple[str, str]]:
    settings, info = result.settings, result.symbol_info
    swap = (
        f"long {info.swap_long:g} / short {info.swap_short:g} points a night, "
        f"x3 on day {info.swap_rollover3days} (0 = Sunday), at the trade server's midnight"
        if settings.swaps and info.swap_mode
        else "none"
    )
    return [
        ("Spread", result.spread_used + "; the same for decisions and fills"),
        ("Slippage", f"{settings.slippage_points} points against the trader"),
        ("Commission", f"{info.commission_per_lot:g} {settings.currency} per lot and side"),
        ("Swaps", swap),
        (
            "Contract",
            f"{info.trade_contract_size:g} units a lot; point {info.point:g}; "
            f"pip {info.pip_size:g}",
        ),
        ("Leverage / account", f"1:{settings.leverage}, {settings.account_mode}"),
    ]


def _rules(result: BacktestResult) -> list[tuple[str, str]]:
    settings = result.settings
    fill = (
        "at the next bar's open (a gap fills at the open)"
        if settings.fill == "next_open"
        else "at the signal bar's close"
    )
    intrabar = (
        "conservative: the extreme that hurts open positions first"
        if settings.intrabar == "conservative"
        else "MT5 OHLC: O-L-H-C up bars, O-H-L-C down"
    )
    return [
        ("Decisions", "at each bar's close, on data up to that bar"),
        ("Market orders", fill),
        ("Pending orders", "buys trigger on the ask, sells on the bid; a gap fills at the open"),
        ("Path inside a bar", intrabar),
        ("Stops and targets", "a buy's on the bid, a sell's on the ask; exact level inside a bar"),
        ("Stops placed from", _stop_anchor(result)),
        ("Trade server's clock", result.server_clock),
        (
            "Weekdays and sessions",
            "on the trade server's clock, unless the strategy names a time zone",
        ),
        ("End of test", 'what is still open is closed at the last bar\'s close ("end of test")'),
    ]


def _stop_anchor(result: BacktestResult) -> str:
    if result.spec.exits.stops_from == "fill":
        return (
            "a market entry's: the quote it fills at (the spec's stops_from: fill); a pending "
            "entry's: its order price"
        )
    text = (
        "the quote at the decision (the signal bar's close: a buy's from the ask, a sell's "
        "from the bid); a pending entry's from its order price"
    )
    if result.settings.fill == "next_open":
        text += (
            "; a market entry fills at the next bar's open, so its stop's distance from the fill "
            "differs by the move between the two (a gap over a weekend)"
        )
    return text


def _run_warnings(result: BacktestResult) -> list[str]:
    warnings = list(result.warnings)
    if result.rejected:
        warnings.append(
            f"{len(result.rejected)} order(s) refused by the broker, e.g. {result.rejected[0]}"
        )
    for reason, count in result.skipped.items():
        warnings.append(f"{count} entr(y/ies) not sent: {reason}")
    return warnings


def _provenance(result: BacktestResult, data: DataInfo) -> dict[str, str]:
    return {
        "Spec hash (sha256)": result.spec_hash,
        "Data fingerprint (sha256)": data.fingerprint,
        "Engine version": f"nl_trader {__version__}, engine {ENGINE_VERSION}",
        "Created (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "Bars": f"{len(result.equity):,} ({result.bars_walked:,} walked by the broker)",
        "Run time": f"{result.elapsed_s:.3f} s",
    }


# ---- formatting --------------------------------------------------------------------------------
def _utc(moment: Any) -> str:
    return pd.Timestamp(moment).tz_convert("UTC").isoformat()


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))  # UTC; faster than datetime


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None, digits: int = 2, suffix: str = " %") -> str:
    return "—" if value is None else f"{value:.{digits}f}{suffix}"


def _sign(value: float | None) -> str:
    if value is None or value == 0:
        return ""
    return "pos" if value > 0 else "neg"


def _heat(value: float | None) -> str:
    if value is None:
        return ""
    strength = min(abs(value) / 5.0, 1.0)
    color = "22,121,76" if value >= 0 else "180,35,24"
    return f"background: rgba({color},{0.08 + 0.5 * strength:.2f})"

"""Backtest honesty: what an independent reference found the engine got wrong (issue 14).

Bars are made by hand (tests/backtest/test_engine.py's builders): H1 EURUSD bid bars, a point
0.00001, a pip 0.0001, 1 lot $10 a pip. Bars made in memory come from no trade server, so the
run takes the usual MetaTrader server clock, New York + 7 h: UTC+2 in January (server midnight
22:00 UTC), UTC+3 in June (21:00 UTC). EURUSD's long swap is -7.2 points a lot a night: -$7.20
for 1 lot, x3 for Wednesday night.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from nl_trader.backtest.engine import BacktestResult, BacktestSettings, run_backtest
from nl_trader.backtest.report import report_json, sample_data_info
from nl_trader.errors import InvalidInputError
from nl_trader.spec import parse_spec
from nl_trader.translate.explain import explain
from tests.backtest.test_engine import QUIET, SIGNAL, make_bars, make_spec, trading

POINT = 0.00001
PIP = 0.0001
FLAT = (1.1000, 1.1001, 1.0999, 1.1000)


def entry_order(result: BacktestResult) -> dict[str, Any]:
    """The order that opened the run's first position."""
    first = trading(result)[0]
    return next(order for order in result.orders if order["ticket"] == first["order"])


def stops_spec(**fields: Any) -> Any:
    return make_spec(
        exits={
            "stop_loss": {"kind": "pips", "value": 30},
            "take_profit": {"kind": "pips", "value": 60},
        },
        **fields,
    )


# ---- 1. a fixed spread is the spread of the decisions too ----------------------------------------
def test_fixed_spread_places_a_buys_stop_from_the_ask_at_decision() -> None:
    # The file says 0 points; --spread 10 makes the ask at bar 1's close 1.10000 + 0.00010.
    bars = make_bars([QUIET, SIGNAL, FLAT, FLAT], spread=0)

    result = run_backtest(stops_spec(), bars, settings=BacktestSettings(spread_points=10))

    order = entry_order(result)
    assert order["sl"] == pytest.approx(1.10010 - 30 * PIP, abs=1e-9)  # 1.09710, not 1.09700
    assert order["tp"] == pytest.approx(1.10010 + 60 * PIP, abs=1e-9)  # 1.10610
    assert trading(result)[0]["price"] == pytest.approx(1.10010, abs=1e-9)  # filled at that ask


def test_max_spread_filter_reads_the_fixed_spread_not_the_files() -> None:
    # The file's spread is 1 point; at --spread 100 (10 pips) a 3-pip ceiling lets nothing in.
    bars = make_bars([QUIET, SIGNAL, FLAT, FLAT], spread=1)
    spec = make_spec(filters={"max_spread_pips": 3})

    wide = run_backtest(spec, bars, settings=BacktestSettings(spread_points=100))
    tight = run_backtest(spec, bars, settings=BacktestSettings(spread_points=20))

    assert trading(wide) == []
    assert len(trading(tight)) == 2  # 2 pips <= 3: the entry, and its end-of-test close


# ---- 2. swaps at the server's midnight -------------------------------------------------------------
def test_swap_is_charged_at_server_midnight_not_utc_midnight() -> None:
    # Wednesday 8 January 2025: bought at 23:00 UTC (01:00 Thursday on the server, after its
    # midnight at 22:00 UTC), closed at the end of Thursday 05:59:59 UTC: no server midnight
    # passes, so no swap (at UTC midnight it would have been Wednesday's triple, -$21.60).
    start = pd.Timestamp("2025-01-08 21:00", tz="UTC")
    bars = make_bars([QUIET, SIGNAL] + [FLAT] * 7, start=start)

    result = run_backtest(make_spec(sizing={"lots": 1.0}), bars)

    entry, close = trading(result)
    assert pd.Timestamp(entry["time"], unit="s", tz="UTC") == start + pd.Timedelta(hours=2)
    assert close["swap"] == 0.0


def test_a_trade_across_the_servers_midnight_pays_the_night() -> None:
    # Tuesday 7 January 2025: bought 18:00 UTC, held to the end of the 22:00 bar (22:59:59 UTC):
    # the server's midnight at 22:00 UTC ends Tuesday: one night, -$7.20.
    start = pd.Timestamp("2025-01-07 16:00", tz="UTC")
    bars = make_bars([QUIET, SIGNAL] + [FLAT] * 5, start=start)

    result = run_backtest(make_spec(sizing={"lots": 1.0}), bars)

    assert trading(result)[-1]["swap"] == -7.2
    assert "New York + 7 h" in result.server_clock


def test_a_server_clock_given_in_the_settings_is_the_one_used() -> None:
    # The same Tuesday trade on a server whose clock is UTC: no midnight between 18:00 and 22:59.
    start = pd.Timestamp("2025-01-07 16:00", tz="UTC")
    bars = make_bars([QUIET, SIGNAL] + [FLAT] * 5, start=start)

    result = run_backtest(
        make_spec(sizing={"lots": 1.0}), bars, settings=BacktestSettings(server_timezone="UTC")
    )

    assert trading(result)[-1]["swap"] == 0.0
    assert result.server_clock.startswith("UTC, as given")


def test_an_unknown_server_timezone_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="server_timezone"):
        BacktestSettings(server_timezone="Mars/Olympus")


# ---- 3. a trade row's commission is both sides' ------------------------------------------------------
def test_trade_row_commission_is_the_entry_and_the_exit_and_the_row_adds_up() -> None:
    # 3.5 per lot and side on 0.1 lot: 0.35 in, 0.35 out.
    bars = make_bars([QUIET, SIGNAL, FLAT, (1.1000, 1.1021, 1.0999, 1.1020)])

    result = run_backtest(make_spec(), bars, settings=BacktestSettings(commission_per_lot=3.5))

    (row,) = report_json(result, sample_data_info(bars))["trades"]
    assert row["commission"] == pytest.approx(-0.70, abs=1e-9)
    assert row["profit"] + row["swap"] + row["commission"] == pytest.approx(row["net_profit"])


# ---- 4. a file without spreads ---------------------------------------------------------------------------
def no_spread_file(bars: pd.DataFrame) -> pd.DataFrame:
    bars.attrs.update(spread_source="none")  # what load_bars says of a file without spreads
    return bars


def test_a_file_without_spreads_runs_at_the_symbols_typical_spread_and_says_so() -> None:
    bars = no_spread_file(make_bars([QUIET, SIGNAL, FLAT, FLAT], spread=0))

    result = run_backtest(stops_spec(), bars)

    # EURUSD's typical spread is 8 points: bought at 1.10008, the stop 30 pips below that ask.
    assert trading(result)[0]["price"] == pytest.approx(1.10008, abs=1e-9)
    assert entry_order(result)["sl"] == pytest.approx(1.10008 - 30 * PIP, abs=1e-9)
    assert any("no spread column" in warning for warning in result.warnings)
    content = report_json(result, sample_data_info(bars))
    assert "8 points" in result.spread_used
    assert "no spread column" in result.spread_used
    assert content["figures"]["total_trades"] == 1


def test_spread_zero_asked_for_is_zero_without_a_warning() -> None:
    bars = no_spread_file(make_bars([QUIET, SIGNAL, FLAT, FLAT], spread=0))

    result = run_backtest(stops_spec(), bars, settings=BacktestSettings(spread_points=0))

    assert trading(result)[0]["price"] == pytest.approx(1.10000, abs=1e-9)
    assert result.warnings == []
    assert result.spread_used == "fixed 0 points"


# ---- 5. closed by the end of the test -------------------------------------------------------------------
def test_positions_closed_by_the_end_of_the_test_are_labelled_end_of_test() -> None:
    bars = make_bars([QUIET, SIGNAL, FLAT, FLAT])

    result = run_backtest(make_spec(), bars)

    (row,) = report_json(result, sample_data_info(bars))["trades"]
    assert row["reason"] == "end of test"


def test_a_strategy_exit_is_still_labelled_strategy() -> None:
    # Long on the cross up, closed by the opposite signal (a short entry on the cross down).
    down = {"op": "crosses_below", "left": "close", "right": 1.09995}
    bars = make_bars([QUIET, SIGNAL, FLAT, QUIET, FLAT, FLAT])
    spec = make_spec(short_entry=down, max_open_positions=1)

    result = run_backtest(spec, bars)

    reasons = [row["reason"] for row in report_json(result, sample_data_info(bars))["trades"]]
    assert reasons[0] == "strategy"
    assert reasons[-1] == "end of test"


# ---- 6. the data is the strategy's symbol's -------------------------------------------------------------
def gold_spec() -> Any:
    return parse_spec(
        {
            "name": "gold on euro prices",
            "symbols": ["XAUUSD"],
            "timeframe": "H1",
            "long_entry": {"op": "crosses_above", "left": "close", "right": 1.09995},
            "exits": {"no_stop_loss": True},
            "sizing": {"method": "fixed_lots", "lots": 0.1},
        }
    )


def test_an_xauusd_strategy_on_eurusd_prices_is_refused() -> None:
    bars = make_bars([QUIET, SIGNAL, FLAT, FLAT])
    bars.attrs.update(source="EURUSD_H1_MT5_2015-2023.csv.gz")

    with pytest.raises(InvalidInputError, match=r"not XAUUSD's.*file's name says EURUSD"):
        run_backtest(gold_spec(), bars)


def test_a_price_just_outside_the_symbols_range_is_only_a_warning() -> None:
    # EURUSD has traded between 0.82 and 1.60: prices around 0.75 are doubtful, not refused.
    low = [(0.7500, 0.7502, 0.7498, 0.7499), (0.7499, 0.7503, 0.7497, 0.7500)] * 2
    result = run_backtest(make_spec(), make_bars(low))

    assert any("outside EURUSD's usual" in warning for warning in result.warnings)


def test_a_file_named_for_another_symbol_warns() -> None:
    bars = make_bars([QUIET, SIGNAL, FLAT, FLAT])
    bars.attrs.update(source="GBPUSD_H1.csv")

    result = run_backtest(make_spec(), bars)

    assert any("file's name says GBPUSD" in warning for warning in result.warnings)


# ---- 7. where stops are measured from ------------------------------------------------------------------
def test_the_explain_back_and_the_report_say_where_stops_are_measured_from() -> None:
    bars = make_bars([QUIET, SIGNAL, FLAT, FLAT])
    result = run_backtest(stops_spec(), bars)

    assert "measured from the price at the decision" in explain(stops_spec())
    rules = report_json(result, sample_data_info(bars))["rules"]
    assert "next bar's open" in rules["Stops placed from"]


def test_stops_from_fill_measures_a_market_entrys_stop_from_the_open_it_fills_at() -> None:
    # Decided at bar 1's close (ask 1.10010); bar 2 gaps up to 1.10200 (ask 1.10210).
    gap = (1.1020, 1.1022, 1.1018, 1.1020)
    bars = make_bars([QUIET, SIGNAL, gap, gap])
    exits = {
        "stop_loss": {"kind": "pips", "value": 30},
        "take_profit": {"kind": "pips", "value": 60},
    }

    from_decision = run_backtest(make_spec(exits=exits), bars)
    from_fill = run_backtest(make_spec(exits={**exits, "stops_from": "fill"}), bars)

    assert entry_order(from_decision)["sl"] == pytest.approx(1.09710, abs=1e-9)  # 49 pips away
    assert entry_order(from_fill)["sl"] == pytest.approx(1.10210 - 30 * PIP, abs=1e-9)
    assert entry_order(from_fill)["tp"] == pytest.approx(1.10210 + 60 * PIP, abs=1e-9)
    assert "measured from the price it fills at" in explain(
        make_spec(exits={**exits, "stops_from": "fill"})
    )


# ---- 8. weekdays on the server's clock -------------------------------------------------------------------
def test_sunday_evening_utc_is_monday_on_the_server_and_trades() -> None:
    # Sunday 5 January 2025 22:00 UTC is Monday 00:00 on a New York + 7 h server (UTC+2).
    start = pd.Timestamp("2025-01-05 21:00", tz="UTC")
    bars = make_bars([QUIET, SIGNAL, FLAT, FLAT], start=start)

    on_server = run_backtest(make_spec(), bars)
    on_utc = run_backtest(make_spec(), bars, settings=BacktestSettings(server_timezone="UTC"))

    assert len(trading(on_server)) == 2  # Monday's signal bar: entered
    assert trading(on_utc) == []  # the same bar is Sunday in UTC: Mon-Fri lets nothing in


def test_the_explain_back_says_which_clock_weekdays_are_read_on() -> None:
    assert "Mon, Tue, Wed, Thu, Fri (the trade server's time)" in explain(make_spec())

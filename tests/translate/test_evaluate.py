"""The translation evals: the cases are sound, the scorer compares specs for meaning and trading,
the figures are right on small hand-made runs, and ``nl-trader eval`` runs on recorded answers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nl_trader.cli import app
from nl_trader.errors import InvalidInputError
from nl_trader.files import write_whole
from nl_trader.spec import canonical_json, parse_spec
from nl_trader.strategy.compile import compile_strategy
from nl_trader.translate.evaluate import (
    RECORDED_SCRIPT,
    SPEC_FIELDS,
    EvalCase,
    Expectation,
    backtest_equivalent,
    compare_specs,
    load_cases,
    percentile,
    precision_recall,
    run_eval,
    score_case,
    summarise,
)
from nl_trader.translate.prompts import load_prompts
from nl_trader.translate.scripted import ScriptedChatModel
from nl_trader.translate.translate import TokenUsage, TranslationError

CASES = load_cases()
BY_ID = {case.id: case for case in CASES}
runner = CliRunner()
FEW_BARS = 800  # enough for the hand-made pairs to trade, and fast


def ma_spec(**changes: Any) -> dict[str, Any]:
    """A 20/50 SMA crossover on EURUSD H1 with a 30-pip stop, top-level fields replaced."""
    spec: dict[str, Any] = {
        "name": "SMA 20/50",
        "symbols": ["EURUSD"],
        "timeframe": "H1",
        "indicators": [
            {"id": "fast", "kind": "sma", "params": {"period": 20}},
            {"id": "slow", "kind": "sma", "params": {"period": 50}},
        ],
        "long_entry": {"op": "crosses_above", "left": "fast", "right": "slow"},
        "short_entry": {"op": "crosses_below", "left": "fast", "right": "slow"},
        "exits": {"stop_loss": {"kind": "pips", "value": 30}},
        "sizing": {"method": "fixed_lots", "lots": 0.1},
    }
    spec.update(changes)
    return spec


# ---- the cases ------------------------------------------------------------------------------------
def test_there_are_at_least_80_cases_and_25_in_chinese_of_both_scripts() -> None:
    assert len(CASES) >= 80
    languages = Counter(case.language for case in CASES)
    assert languages["zh-Hant"] + languages["zh-Hans"] >= 25
    assert languages["zh-Hant"] >= 8
    assert languages["zh-Hans"] >= 8
    outcomes = Counter(case.expect.outcome for case in CASES)
    assert outcomes["clarify"] >= 10
    assert outcomes["refuse"] >= 10


def test_the_hard_cases_the_issue_names_are_all_there() -> None:
    tags = Counter(tag for case in CASES for tag in case.tags)
    for tag in (
        "pips-vs-points",
        "percent",
        "session-tz",
        "risk-pct",
        "conflicting",
        "jpy",
        "gold",
        "slang",
        "injection",
        "example",
    ):
        assert tags[tag] >= 3, tag


def test_every_expected_spec_is_valid_and_compiles_for_each_of_its_symbols() -> None:
    specs = [case.expect.spec for case in CASES if case.expect.outcome == "spec"]
    assert len(specs) >= 50
    for spec in specs:
        assert spec is not None
        assert canonical_json(parse_spec(json.loads(canonical_json(spec)))) == canonical_json(spec)
        for symbol in spec.symbols:
            compile_strategy(spec, symbol)


def test_no_case_is_one_of_the_prompts_few_shot_examples() -> None:
    # A case the prompt shows with its answer would measure recall of the prompt, not translation.
    system = load_prompts().system
    assert [case.id for case in CASES if case.text in system] == []


def test_a_bad_case_file_is_refused_naming_each_line_and_problem(tmp_path: Path) -> None:
    no_stop = ma_spec(exits={})
    lines = [
        {"id": "a", "language": "en", "text": "x", "expect": {"outcome": "spec", "spec": no_stop}},
        {"id": "b", "language": "fr", "text": "y", "expect": {"outcome": "refuse"}},
        {"id": "a", "language": "en", "text": "z", "expect": {"outcome": "refuse"}},
        {"id": "c", "language": "en", "text": "w", "expect": {"outcome": "clarify", "missing": []}},
    ]
    (tmp_path / "bad.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n{\n")
    with pytest.raises(InvalidInputError) as caught:
        load_cases(tmp_path)
    problems = caught.value.problems
    assert any(p.startswith("bad.jsonl:1 (a): expect.spec.exits.stop_loss:") for p in problems)
    assert "bad.jsonl:2 (b): language: 'fr' is not one of en, zh-Hant, zh-Hans" in problems
    assert "bad.jsonl:3: id 'a' is already used at bad.jsonl:1" in problems
    assert "bad.jsonl:4 (c): expect.missing: name at least one spec field at stake" in problems
    assert any(p.startswith("bad.jsonl:5: not valid JSON") for p in problems)


def test_the_recorded_answers_answer_every_case_and_nothing_else() -> None:
    script = json.loads(RECORDED_SCRIPT.read_text(encoding="utf-8"))
    matches = {reply["match"] for reply in script["replies"]}
    assert matches == {case.text for case in CASES}
    # No case text lies inside another: each conversation gets only its own replies.
    texts = [case.text for case in CASES]
    assert not [(a, b) for a in texts for b in texts if a != b and a in b]


# ---- comparing specs ------------------------------------------------------------------------------
def test_specs_equal_up_to_ids_list_order_defaults_and_numeric_noise_match() -> None:
    expected = parse_spec(
        ma_spec(
            symbols=["EURUSD", "GBPUSD"],
            indicators=[*ma_spec()["indicators"], {"id": "rsi", "kind": "rsi", "params": {}}],
            long_entry={
                "op": "all",
                "conditions": [
                    {"op": "crosses_above", "left": "fast", "right": "slow"},
                    {"op": "lt", "left": "rsi", "right": 70},
                ],
            },
            sizing={"method": "risk_percent", "risk_pct": 1},
        )
    )
    actual = parse_spec(
        ma_spec(
            name="another name",
            symbols=["GBPUSD", "EURUSD"],
            indicators=[
                {"id": "rsi14", "kind": "rsi", "params": {"period": 14, "source": "close"}},
                {"id": "sma50", "kind": "sma", "params": {"period": 50}},
                {"id": "sma20", "kind": "sma", "params": {"period": 20}},
            ],
            long_entry={
                "op": "all",
                "conditions": [
                    {"op": "gt", "left": 70.00000000000001, "right": "rsi14"},
                    {
                        "op": "all",
                        "conditions": [{"op": "crosses_above", "left": "sma20", "right": "sma50"}],
                    },
                ],
            },
            short_entry={"op": "crosses_above", "left": "sma50", "right": "sma20"},
            exits={
                "stop_loss": {"kind": "pips", "value": 30.000000000001},
                "timezone": "Asia/Tokyo",
            },
            # lots mean nothing to a risk-sized strategy; min/max lots and weekdays at defaults.
            sizing={"method": "risk_percent", "risk_pct": 1.0, "lots": 3, "min_lots": 0.01},
            filters={"weekdays": ["fri", "thu", "wed", "tue", "mon"]},
            magic=42,
        )
    )
    comparison = compare_specs(expected, actual)
    assert comparison.fields == dict.fromkeys(SPEC_FIELDS, True)
    assert comparison.exact
    assert comparison.differences == ()


def test_30_pips_against_30_points_is_a_mismatch_on_exits_only_and_trades_differently() -> None:
    expected = parse_spec(ma_spec())
    # 30 MT5 points on a 5-digit EURUSD quote are 3 pips.
    points = parse_spec(ma_spec(exits={"stop_loss": {"kind": "pips", "value": 3}}))
    comparison = compare_specs(expected, points)
    assert not comparison.exact
    assert [name for name, same in comparison.fields.items() if not same] == ["exits"]
    assert comparison.differences == ("exits.stop_loss.value: expected 30.0, got 3.0",)
    equivalence = backtest_equivalent(expected, points, bars=FEW_BARS)
    assert not equivalence.equivalent
    assert "differs in sl" in equivalence.note


def test_different_rules_that_give_the_same_orders_are_backtest_equivalent() -> None:
    macd = [{"id": "macd", "kind": "macd", "params": {}}]
    histogram = parse_spec(
        ma_spec(
            indicators=macd,
            long_entry={"op": "crosses_above", "left": "macd.histogram", "right": 0},
            short_entry={"op": "crosses_below", "left": "macd.histogram", "right": 0},
        )
    )
    # The histogram is MACD minus signal: it turns positive exactly when MACD crosses the signal.
    lines = parse_spec(
        ma_spec(
            indicators=macd,
            long_entry={"op": "crosses_above", "left": "macd.macd", "right": "macd.signal"},
            short_entry={"op": "crosses_below", "left": "macd.macd", "right": "macd.signal"},
        )
    )
    comparison = compare_specs(histogram, lines)
    assert not comparison.exact
    assert not comparison.fields["long_entry"]
    assert not comparison.fields["short_entry"]
    equivalence = backtest_equivalent(histogram, lines, bars=FEW_BARS)
    assert equivalence.equivalent, equivalence.note
    assert equivalence.orders > 10


def test_gmt_is_utc_and_a_session_in_another_zone_is_not() -> None:
    def session(zone: str) -> dict[str, Any]:
        return {"sessions": [{"start": "08:00", "end": "12:00", "timezone": zone}]}

    utc = parse_spec(ma_spec(filters=session("UTC")))
    assert compare_specs(utc, parse_spec(ma_spec(filters=session("GMT")))).exact
    new_york = parse_spec(ma_spec(filters=session("America/New_York")))
    assert compare_specs(utc, new_york).fields["filters"] is False
    # 08:00-12:00 in New York is 12:00-16:00 UTC in June: other crossings, other orders.
    assert not backtest_equivalent(utc, new_york, bars=FEW_BARS).equivalent


def test_a_cross_pair_is_backtested_with_the_rates_that_convert_its_profit() -> None:
    guppy = parse_spec(ma_spec(symbols=["GBPJPY"]))
    equivalence = backtest_equivalent(guppy, guppy, bars=FEW_BARS)
    assert equivalence.equivalent, equivalence.note
    assert equivalence.orders > 0


def test_another_symbol_or_timeframe_is_never_equivalent() -> None:
    expected = parse_spec(ma_spec())
    assert (
        "symbols differ"
        in backtest_equivalent(expected, parse_spec(ma_spec(symbols=["GBPUSD"]))).note
    )
    assert (
        "timeframes differ"
        in backtest_equivalent(expected, parse_spec(ma_spec(timeframe="H4"))).note
    )


# ---- figures --------------------------------------------------------------------------------------
def test_precision_and_recall_of_clarifications_and_refusals() -> None:
    pairs = [
        ("clarify", "clarify"),
        ("clarify", "spec"),  # a missed question
        ("spec", "clarify"),  # a needless question
        ("spec", "clarify"),
        ("spec", "spec"),
        ("refuse", "refuse"),
        ("refuse", "error"),
    ]
    assert precision_recall(pairs, "clarify") == (pytest.approx(1 / 3), pytest.approx(1 / 2))
    assert precision_recall(pairs, "refuse") == (1.0, 0.5)
    assert precision_recall(pairs, "spec") == (pytest.approx(1 / 2), pytest.approx(1 / 3))
    assert precision_recall([("spec", "spec")], "refuse") == (None, None)


def test_p95_latency_is_the_nearest_rank() -> None:
    assert percentile([float(n) for n in range(1, 21)], 0.95) == 19.0
    assert percentile([0.5], 0.95) == 0.5
    assert percentile([], 0.95) is None


def test_a_translation_error_is_a_failed_case_with_its_reason_and_tokens() -> None:
    case = EvalCase("x", "en", "text", Expectation("spec", parse_spec(ma_spec())))
    error = TranslationError(
        "no valid answer after 3 attempt(s)",
        attempts=3,
        last_raw_output="{",
        usage=TokenUsage(3000, 30),
        problems=["answer: not valid JSON"],
    )
    row = score_case(case, error, latency_s=1.5)
    assert (row.got, row.passed, row.exact_match, row.backtest_equivalent) == (
        "error",
        False,
        False,
        False,
    )
    assert row.summary_line == "TranslationError: no valid answer after 3 attempt(s)"
    assert row.problems == ["answer: not valid JSON"]
    assert (row.attempts, row.input_tokens, row.output_tokens) == (3, 3000, 30)
    summary = summarise([row])
    assert summary.errors == 1
    assert summary.confusion["spec"]["error"] == 1
    assert summary.exact_match_rate == 0.0


def _reply(case: EvalCase, answer: dict[str, Any], usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "match": case.text,
        "content": json.dumps(answer),
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def test_a_small_run_gives_the_figures_its_answers_deserve() -> None:
    right = EvalCase(
        "right",
        "en",
        "EURUSD H1 SMA 20/50 cross, 30 pip stop",
        Expectation("spec", parse_spec(ma_spec())),
    )
    points = EvalCase(
        "points",
        "en",
        "EURUSD H1 SMA 20/50 cross, 300 point stop",
        Expectation("spec", parse_spec(ma_spec())),
    )
    other_bars = EvalCase(
        "other-bars",
        "en",
        "EURUSD H1 SMA 20/50 crossover, stop 30 pips",
        Expectation("spec", parse_spec(ma_spec())),
    )
    ask = EvalCase(
        "ask",
        "en",
        "EURUSD SMA 20/50 cross, 30 pip stop",
        Expectation("clarify", missing=("timeframe",)),
    )
    refuse = EvalCase(
        "refuse",
        "en",
        "EURUSD H1 Ichimoku cloud, 30 pip stop",
        Expectation("refuse", unsupported=("ichimoku",)),
    )
    # 300 MT5 points are 30 pips: the grounding check sends a 300-pip stop back, every time.
    wrong_stop = ma_spec(exits={"stop_loss": {"kind": "pips", "value": 300}})
    model = ScriptedChatModel.from_replies(
        [
            _reply(right, {"outcome": "spec", "spec": ma_spec(name="other")}, (1000, 100)),
            *[_reply(points, {"outcome": "spec", "spec": wrong_stop}, (1000, 100))] * 3,
            _reply(other_bars, {"outcome": "spec", "spec": ma_spec(timeframe="H4")}, (1000, 100)),
            _reply(
                ask,
                {"outcome": "clarify", "questions": ["Which timeframe?"], "missing": ["timeframe"]},
                (1000, 20),
            ),
            _reply(
                refuse,
                {
                    "outcome": "refuse",
                    "unsupported": ["indicator ichimoku"],
                    "reason": "Not in the catalogue.",
                },
                (1000, 20),
            ),
        ],
        model="test-model",
    )
    report = run_eval(
        [right, points, other_bars, ask, refuse], model, llm_name="scripted", bars=FEW_BARS
    )
    summary = report.summary
    assert [row.passed for row in report.rows] == [True, False, False, True, True]
    assert report.rows[1].got == "error"
    refused = report.rows[1].problems[0]
    assert refused.startswith("spec.exits.stop_loss.value: the answer says 300 pips, the text says")
    assert summary.errors == 1
    assert summary.exact_match_rate == 1 / 3
    assert summary.backtest_equivalent_rate == 1 / 3
    assert summary.field_accuracy["timeframe"] == 0.5
    assert summary.field_accuracy["symbols"] == 1.0
    assert (summary.clarify_precision, summary.clarify_recall) == (1.0, 1.0)
    assert summary.missing_recall == 1.0
    assert summary.unsupported_named_rate == 1.0
    assert (summary.input_tokens, summary.output_tokens) == (7000, 540)
    assert summary.language_accuracy == 1.0
    assert report.model == "test-model"
    assert report.prompt_hash == load_prompts().hash
    assert report.rows[2].differences == ['timeframe: expected "H1", got "H4"']
    data = report.to_json()
    assert data["summary"]["pass_rate"] == 0.6
    assert len(data["cases"]) == 5


# ---- the command ----------------------------------------------------------------------------------
SUBSET = [
    "example-rsi_mean_reversion",
    "en-session-newyork",
    "en-clarify-no-symbol",
    "en-refuse-options",
]


def _only(ids: list[str]) -> list[str]:
    return [item for case_id in ids for item in ("--only", case_id)]


def test_eval_on_recorded_answers_prints_the_table_and_writes_the_json(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = runner.invoke(app, ["eval", *_only(SUBSET), "--bars", "1000", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Per-field accuracy" in result.output
    assert "clarify precision / recall" in result.output
    assert "Cases that did not pass (1)" in result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    # The recorded stand-in wrote the New York session in UTC: the report says where.
    rows = {row["id"]: row for row in report["cases"]}
    assert sorted(rows) == sorted(SUBSET)
    session = rows["en-session-newyork"]
    assert session["differences"][0] == (
        'filters.sessions[0].timezone: expected "America/New_York", got "UTC"'
    )
    assert session["fields"]["filters"] is False
    assert session["backtest_equivalent"] is False
    assert report["model"] == "authored-stand-in-1"
    assert report["prompt_hash"] == load_prompts().hash
    assert report["summary"]["pass_rate"] == 0.75
    assert report["summary"]["input_tokens"] > 0


def test_eval_records_a_run_that_replays_to_the_same_answers(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded.json"
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    ids = ["en-stop-entry-channel", "en-refuse-options"]  # the first needs an ask-again
    args = ["eval", *_only(ids), "--bars", "500", "--llm", f"scripted:{RECORDED_SCRIPT}"]
    assert (
        runner.invoke(app, [*args, "--out", str(first), "--record", str(recorded)]).exit_code == 0
    )
    script = json.loads(recorded.read_text(encoding="utf-8"))
    assert len(script["replies"]) == 3
    assert script["model"] == "authored-stand-in-1"
    replay = ["eval", *_only(ids), "--bars", "500", "--llm", f"scripted:{recorded}"]
    assert runner.invoke(app, [*replay, "--out", str(second)]).exit_code == 0

    def outcomes(path: Path) -> list[tuple[str, str, int, str | None]]:
        rows = json.loads(path.read_text(encoding="utf-8"))["cases"]
        return [(r["id"], r["got"], r["attempts"], r["spec_hash"]) for r in rows]

    assert outcomes(first) == outcomes(second)
    assert outcomes(first)[0][2] == 2


def test_eval_exits_1_below_the_pass_rate_asked_for(tmp_path: Path) -> None:
    args = [
        "eval",
        *_only(["en-points-mt5-eurusd"]),
        "--bars",
        "500",
        "--out",
        str(tmp_path / "r.json"),
    ]
    result = runner.invoke(app, [*args, "--fail-under", "0.9"])
    assert result.exit_code == 1
    assert "below --fail-under" in result.output


def test_eval_refuses_bad_cases_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "cases.jsonl").write_text('{"id": "x", "language": "en"}\n')
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["eval", "--cases", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 2
    assert "cases.jsonl:1 (x): text: required" in result.output
    assert not out.exists()


def test_eval_needs_a_key_for_a_real_model_and_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "--llm", "openai", "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 2
    assert "OPENAI_API_KEY: not set" in result.output


def test_eval_refuses_an_output_path_it_cannot_write_before_any_model_call(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x")
    subset = _only(["en-refuse-options"])
    for out, problem in [
        (tmp_path, f"--out: {tmp_path} is a folder; name a file in it"),
        (tmp_path / "a_file" / "r.json", f"--out: {tmp_path / 'a_file'} is a file, not a folder"),
    ]:
        result = runner.invoke(app, ["eval", *subset, "--out", str(out)])
        assert result.exit_code == 2
        assert problem in " ".join(result.output.split())
        assert "Translation eval" not in result.output  # refused before the run, not after it
    same = tmp_path / "r.json"
    result = runner.invoke(app, ["eval", *subset, "--out", str(same), "--record", str(same)])
    assert result.exit_code == 2
    assert "is the --out file too" in result.output
    assert not same.exists()


def test_a_report_that_cannot_be_written_keeps_the_recording_and_exits_2(tmp_path: Path) -> None:
    out, recorded = tmp_path / "r.json", tmp_path / "recorded.json"
    (tmp_path / "r.json.partial").mkdir()  # the report's temporary file cannot be made
    args = ["eval", *_only(["en-refuse-options"]), "--out", str(out), "--record", str(recorded)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "not all of its files were written" in result.output
    assert f"--out: cannot write {out}" in " ".join(result.output.split())
    assert not out.exists()
    assert len(json.loads(recorded.read_text(encoding="utf-8"))["replies"]) == 1


def test_case_ids_and_texts_with_brackets_are_shown_as_written_after_the_report_is_saved(
    tmp_path: Path,
) -> None:
    case = {
        "id": "odd-[/red]",
        "language": "en",
        "text": "Buy [/red] when it's [bold]cheap[/bold]",
        "expect": {"outcome": "clarify", "missing": ["symbols"]},
    }
    (tmp_path / "cases.jsonl").write_text(json.dumps(case) + "\n", encoding="utf-8")
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["eval", "--cases", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "odd-[/red]" in result.output
    assert json.loads(out.read_text(encoding="utf-8"))["cases"][0]["got"] == "error"


def test_a_whole_write_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "inside").write_text("x")
    with pytest.raises(IsADirectoryError):
        write_whole(folder, "{}")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["taken"]


def test_a_case_file_that_is_not_utf8_or_a_spec_that_is_not_an_object_is_named(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'\xff\xfe{"id": "x"}\n')
    line = {"id": "s", "language": "en", "text": "t", "expect": {"outcome": "spec", "spec": "{}"}}
    (tmp_path / "b.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        load_cases(tmp_path)
    assert list(caught.value.problems) == [
        "a.jsonl: cannot read (not UTF-8 text)",
        "b.jsonl:1 (s): expect.spec: required, a StrategySpec object",
    ]

"""Translation evals: the cases of ``evals/``, ``translate`` run over them, and a semantic scorer.

A case is a trader's text and what a good translation gives: a spec, a question (``clarify``, with
the spec fields at stake) or a refusal (with what is unsupported). Cases are data, one JSON object
per line in ``evals/cases/*.jsonl``; a line ``{"id": ..., "example": "ma_crossover"}`` takes its
text, language and spec from ``strategies/``.

Specs are compared for meaning, not for text (``normalise_spec``): names and free text are ignored,
indicator ids are replaced by what the indicator is (``sma(period=20,source=close)``), lists whose
order means nothing are sorted (symbols, indicators, sessions, the parts of an ``all``/``any``),
``a < b`` is read as ``b > a`` and ``a crosses below b`` as ``b crosses above a``, options that
cannot act are dropped (the lots of a risk-sized strategy), and numbers match within a relative
1e-9. Two specs that still differ may trade the same: ``backtest_equivalent`` runs both on the
bundled sample and compares every order and deal.

The report gives per-field accuracy, the exact-match rate, precision and recall of clarifications
and refusals, tokens and latency, by case and in summary.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from nl_trader.backtest.engine import BacktestResult, run_backtest
from nl_trader.data.sample import sample_bars
from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.files import write_whole
from nl_trader.spec import SpecError, StrategySpec, canonical_json, parse_spec, spec_hash
from nl_trader.strategy.examples import EXAMPLES_DIR, load_examples
from nl_trader.strategy.indicators import REGISTRY
from nl_trader.symbols import conversion_pairs
from nl_trader.translate.prompts import load_prompts
from nl_trader.translate.translate import (
    Outcome,
    TokenUsage,
    Translation,
    TranslationError,
    translate,
)

EVALS_DIR = Path(__file__).resolve().parents[2] / "evals"
CASES_DIR = EVALS_DIR / "cases"
RECORDED_SCRIPT = EVALS_DIR / "recorded" / "scripted.json"
REPORT_VERSION = 1
LANGUAGES = ("en", "zh-Hant", "zh-Hans")
OUTCOMES: tuple[Outcome, ...] = ("spec", "clarify", "refuse")
# The fields that decide what a strategy does; name, description, magic and comment only label it.
SPEC_FIELDS = (
    "symbols",
    "timeframe",
    "indicators",
    "long_entry",
    "short_entry",
    "entry",
    "exits",
    "sizing",
    "max_open_positions",
    "pyramiding",
    "filters",
)
DEFAULT_SAMPLE_BARS = 3000
ACCOUNT_CURRENCY = "USD"  # the backtests' account (BacktestSettings' default)
REL_TOLERANCE = 1e-9
# Zone names that all mean UTC: a trader's "GMT" is the same clock as "UTC".
_UTC_NAMES = frozenset(
    {
        "UTC",
        "Etc/UTC",
        "UCT",
        "Etc/UCT",
        "GMT",
        "Etc/GMT",
        "GMT0",
        "Etc/GMT0",
        "GMT+0",
        "GMT-0",
        "Etc/GMT+0",
        "Etc/GMT-0",
        "Greenwich",
        "Etc/Greenwich",
        "Universal",
        "Etc/Universal",
        "Zulu",
        "Etc/Zulu",
    }
)
# Order and deal fields that are labels (magic, comment) or identities, not trading.
_IGNORED_TRADE_KEYS = frozenset({"magic", "comment", "external_id"})


# ---- cases ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expectation:
    """What a good translation of a case gives."""

    outcome: Outcome
    spec: StrategySpec | None = None
    missing: tuple[str, ...] = ()  # clarify: spec fields at stake (top-level names)
    unsupported: tuple[str, ...] = ()  # refuse: keywords a refusal should name


@dataclass(frozen=True)
class EvalCase:
    """One text to translate and its expected result."""

    id: str
    language: str  # en, zh-Hant or zh-Hans
    text: str
    expect: Expectation
    tags: tuple[str, ...] = ()
    source: str = ""  # file:line, for error messages


def load_cases(directory: Path = CASES_DIR, *, examples_dir: Path = EXAMPLES_DIR) -> list[EvalCase]:
    """Every case of ``directory/*.jsonl``, validated; raise ``InvalidInputError`` naming each bad
    line and its problem (a case whose expected spec is invalid is a bad case)."""
    files = sorted(directory.glob("*.jsonl")) if directory.is_dir() else []
    if not files:
        raise InvalidInputError([f"cases: no *.jsonl files in {directory}"], what="eval cases")
    examples: dict[str, Any] | None = None
    cases: list[EvalCase] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            problems.append(f"{path.name}: cannot read ({reason})")
            continue
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"{where}: not valid JSON ({error.msg})")
                continue
            if not isinstance(data, dict):
                problems.append(f"{where}: expected a JSON object")
                continue
            ident = data.get("id")
            if isinstance(ident, str) and ident in seen:
                problems.append(f"{where}: id {ident!r} is already used at {seen[ident]}")
                continue
            if isinstance(ident, str):
                seen[ident] = where
            if "example" in data and examples is None:
                examples = {example.slug: example for example in load_examples(examples_dir)}
            try:
                cases.append(_parse_case(data, where, examples or {}))
            except _CaseProblemsError as error:
                problems.extend(error.problems)
    if problems:
        raise InvalidInputError(problems, what="eval cases")
    return cases


class _CaseProblemsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _parse_case(data: dict[str, Any], where: str, examples: dict[str, Any]) -> EvalCase:
    ident = data.get("id")
    if not isinstance(ident, str) or not ident.strip():
        raise _CaseProblemsError([f"{where}: id: required, a non-empty text"])
    where = f"{where} ({ident})"
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise _CaseProblemsError([f"{where}: tags: expected a list of texts"])
    if "example" in data:
        slug = data["example"]
        extra = sorted(set(data) - {"id", "example", "tags"})
        if extra:
            raise _CaseProblemsError(
                [
                    f"{where}: {', '.join(extra)}: an example case takes its text and spec from strategies/"
                ]
            )
        if slug not in examples:
            raise _CaseProblemsError([f"{where}: example: no strategy {slug!r} in strategies/"])
        example = examples[slug]
        return EvalCase(
            ident,
            example.language,
            example.text,
            Expectation("spec", example.spec),
            tuple(tags),
            where,
        )
    problems = []
    extra = sorted(set(data) - {"id", "language", "text", "expect", "tags"})
    if extra:
        problems.append(f"{where}: {', '.join(extra)}: unknown field")
    language = data.get("language")
    if language not in LANGUAGES:
        problems.append(f"{where}: language: {language!r} is not one of {', '.join(LANGUAGES)}")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append(f"{where}: text: required, a non-empty text")
    expect = data.get("expect")
    expectation = None
    if not isinstance(expect, dict):
        problems.append(f"{where}: expect: required, an object with an outcome")
    else:
        try:
            expectation = _parse_expectation(expect)
        except _CaseProblemsError as error:
            problems.extend(f"{where}: expect.{problem}" for problem in error.problems)
    if problems or expectation is None:
        raise _CaseProblemsError(problems)
    return EvalCase(ident, str(language), str(text), expectation, tuple(tags), where)


def _parse_expectation(expect: dict[str, Any]) -> Expectation:
    outcome = expect.get("outcome")
    allowed = {"spec": {"spec"}, "clarify": {"missing"}, "refuse": {"unsupported"}}
    if outcome not in allowed:
        raise _CaseProblemsError([f"outcome: {outcome!r} is not one of spec, clarify, refuse"])
    extra = sorted(set(expect) - allowed[outcome] - {"outcome"})
    if extra:
        raise _CaseProblemsError([f"{name}: not part of a {outcome} expectation" for name in extra])
    if outcome == "spec":
        if not isinstance(expect.get("spec"), dict):
            raise _CaseProblemsError(["spec: required, a StrategySpec object"])
        try:
            return Expectation("spec", parse_spec(expect.get("spec")))
        except SpecError as error:
            raise _CaseProblemsError([f"spec.{problem}" for problem in error.problems]) from None
    key = "missing" if outcome == "clarify" else "unsupported"
    values = expect.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise _CaseProblemsError([f"{key}: expected a list of non-empty texts"])
    if outcome == "clarify":
        if not values:
            raise _CaseProblemsError(["missing: name at least one spec field at stake"])
        unknown = sorted({_top_field(v) for v in values} - set(SPEC_FIELDS))
        if unknown:
            raise _CaseProblemsError(
                [f"missing: {', '.join(unknown)} is not a spec field ({', '.join(SPEC_FIELDS)})"]
            )
        return Expectation("clarify", missing=tuple(dict.fromkeys(map(_top_field, values))))
    return Expectation("refuse", unsupported=tuple(v.lower() for v in values))


def _top_field(path: str) -> str:
    """``exits.stop_loss`` -> ``exits``; ``indicators[0]`` -> ``indicators``."""
    return path.strip().split(".", 1)[0].split("[", 1)[0]


# ---- semantic comparison of specs -----------------------------------------------------------------
def normalise_spec(spec: StrategySpec) -> dict[str, Any]:
    """The spec's behaviour as plain data: equal for two specs that mean the same, field by field
    (``SPEC_FIELDS``). See the module docstring for what is normalised."""
    data: dict[str, Any] = json.loads(canonical_json(spec))
    renames: dict[str, str] = {}
    indicators: dict[str, dict[str, Any]] = {}
    for item in data["indicators"]:
        params = ",".join(
            f"{key}={_number_text(value)}" for key, value in sorted(item["params"].items())
        )
        key = f"{item['kind']}({params})"
        renames[item["id"]] = key
        indicators[key] = {"kind": item["kind"], "params": item["params"]}

    def series(name: str) -> str:
        ident, _, output = name.partition(".")
        if ident not in renames:
            return name  # a price field
        kind = indicators[renames[ident]]["kind"]
        return f"{renames[ident]}.{output or REGISTRY[kind].default_output}"

    def operand(value: Any) -> Any:
        if not isinstance(value, dict):
            return float(value)
        atr = renames.get(value["atr"], value["atr"]) if value["offset_atr"] else None
        return {
            "series": series(value["series"]),
            "bars_ago": value["bars_ago"],
            "offset_pips": float(value["offset_pips"]),
            "offset_atr": float(value["offset_atr"]),
            "atr": f"{atr}.value" if atr else None,
        }

    def condition(node: Any) -> Any:
        if node is None:
            return None
        op = node["op"]
        if op in ("all", "any"):
            parts: dict[str, Any] = {}
            for child in node["conditions"]:
                normal = condition(child)
                for part in normal["conditions"] if normal["op"] == op else [normal]:
                    parts.setdefault(_sort_key(part), part)
            if len(parts) == 1:
                return next(iter(parts.values()))
            return {"op": op, "conditions": [parts[key] for key in sorted(parts)]}
        if op == "not":
            inner = condition(node["condition"])
            return inner["condition"] if inner["op"] == "not" else {"op": "not", "condition": inner}
        if op in ("lt", "crosses_below"):
            # a < b is b > a; a crossing below b is b crossing above a.
            flipped = "gt" if op == "lt" else "crosses_above"
            return {"op": flipped, "left": operand(node["right"]), "right": operand(node["left"])}
        if op in ("gt", "crosses_above"):
            return {"op": op, "left": operand(node["left"]), "right": operand(node["right"])}
        if op == "between":
            return {
                "op": op,
                "value": operand(node["value"]),
                "low": operand(node["low"]),
                "high": operand(node["high"]),
            }
        return {"op": op, "series": operand(node["series"]), "bars": node["bars"]}

    def distance(part: dict[str, Any] | None) -> dict[str, Any] | None:
        if part is None:
            return None
        normal = {
            key: float(value) if isinstance(value, int | float) else value
            for key, value in part.items()
        }
        if "atr" in part:
            atr = part["atr"]
            normal["atr"] = f"{renames.get(atr, atr)}.value" if part["kind"] == "atr" else None
        return normal

    exits = data["exits"]
    entry = data["entry"]
    timed = bool(exits["close_at"] or exits["close_before_weekend"] or entry["expiry_time"])
    both_ways = data["long_entry"] is not None and data["short_entry"] is not None
    normal_exits = {
        "stop_loss": distance(exits["stop_loss"]),
        "take_profit": distance(exits["take_profit"]),
        "trailing_stop": distance(exits["trailing_stop"]),
        "break_even": distance(exits["break_even"]),
        # The opposite signal can only close a trade when both directions have an entry rule.
        "on_opposite_signal": exits["on_opposite_signal"] if both_ways else True,
        "long_exit": condition(exits["long_exit"]) if data["long_entry"] else None,
        "short_exit": condition(exits["short_exit"]) if data["short_entry"] else None,
        "max_bars": exits["max_bars"],
        "close_at": exits["close_at"],
        "close_before_weekend": exits["close_before_weekend"],
        "timezone": _zone(exits["timezone"]) if timed else "UTC",
        "no_stop_loss": exits["no_stop_loss"],
    }
    if entry["order"] == "market":
        normal_entry: dict[str, Any] = {"order": "market"}
    else:
        close = {
            "series": "close",
            "bars_ago": 0,
            "offset_pips": 0.0,
            "offset_atr": 0.0,
            "atr": None,
        }
        anchor = operand(entry["anchor"]) if entry["anchor"] else close
        short_anchor = operand(entry["short_anchor"]) if entry["short_anchor"] else anchor
        normal_entry = {
            "order": entry["order"],
            "anchor": anchor if data["long_entry"] else None,
            "short_anchor": short_anchor if data["short_entry"] else None,
            "offset_pips": float(entry["offset_pips"]),
            "limit_offset_pips": float(entry["limit_offset_pips"]),
            "expiry_bars": entry["expiry_bars"],
            "expiry_time": entry["expiry_time"],
        }
    sizing = data["sizing"]
    used = {"fixed_lots": "lots", "risk_percent": "risk_pct", "risk_money": "risk_money"}
    normal_sizing = {
        "method": sizing["method"],
        "amount": float(sizing[used[sizing["method"]]]),
        "min_lots": float(sizing["min_lots"]),
        "max_lots": float(sizing["max_lots"]),
    }
    filters = data["filters"]
    sessions = {
        _sort_key(s): {"start": s["start"], "end": s["end"], "timezone": _zone(s["timezone"])}
        for s in filters["sessions"]
    }
    return {
        "symbols": sorted(data["symbols"]),
        "timeframe": data["timeframe"],
        "indicators": [{"id": key, **indicators[key]} for key in sorted(indicators)],
        "long_entry": condition(data["long_entry"]),
        "short_entry": condition(data["short_entry"]),
        "entry": normal_entry,
        "exits": normal_exits,
        "sizing": normal_sizing,
        "max_open_positions": data["max_open_positions"],
        "pyramiding": data["pyramiding"],
        "filters": {
            "sessions": [sessions[key] for key in sorted(sessions)],
            "weekdays": filters["weekdays"],
            "max_spread_pips": filters["max_spread_pips"],
        },
    }


def _zone(name: str) -> str:
    return "UTC" if name in _UTC_NAMES else name


def _number_text(value: Any) -> str:
    return f"{value:.10g}" if isinstance(value, float) else str(value)


def _rounded(value: Any) -> Any:
    """``value`` with floats at 9 significant digits, so that sorting ignores numeric noise."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def _sort_key(value: Any) -> str:
    return json.dumps(_rounded(value), sort_keys=True, ensure_ascii=False)


def same(left: Any, right: Any) -> bool:
    """Equal as data, numbers within a relative ``REL_TOLERANCE`` (ints and floats alike)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(left, right, rel_tol=REL_TOLERANCE, abs_tol=1e-12)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


def differences(left: Any, right: Any, path: str = "") -> Iterator[str]:
    """``path: expected X, got Y`` for each leaf where ``left`` and ``right`` differ."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in list(left) + [k for k in right if k not in left]:
            where = f"{path}.{key}" if path else str(key)
            yield from differences(left.get(key), right.get(key), where)
        return
    if (
        isinstance(left, list)
        and isinstance(right, list)
        and len(left) == len(right)
        and not all(isinstance(item, str) for item in left + right)
    ):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            yield from differences(a, b, f"{path}[{index}]")
        return
    if not same(left, right):
        yield f"{path}: expected {_short(left)}, got {_short(right)}"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class SpecComparison:
    """Field by field, whether a translated spec means what the expected one does."""

    fields: dict[str, bool]
    differences: tuple[str, ...]

    @property
    def exact(self) -> bool:
        return all(self.fields.values())


def compare_specs(expected: StrategySpec, actual: StrategySpec) -> SpecComparison:
    """Compare two specs for meaning (``normalise_spec``), field by field."""
    left, right = normalise_spec(expected), normalise_spec(actual)
    fields = {name: same(left[name], right[name]) for name in SPEC_FIELDS}
    found = tuple(
        difference
        for name in SPEC_FIELDS
        if not fields[name]
        for difference in differences(left[name], right[name], name)
    )
    return SpecComparison(fields, found)


# ---- backtest equivalence -------------------------------------------------------------------------
@dataclass(frozen=True)
class Equivalence:
    """Whether two specs send the same orders on the bundled sample, and why not."""

    equivalent: bool
    note: str
    orders: int = 0  # orders the expected spec sent (0: the comparison says little)


_ORDER_KEYS = (
    "time_setup",
    "time_done",
    "time_expiration",
    "type",
    "state",
    "volume_initial",
    "price_open",
    "sl",
    "tp",
    "price_stoplimit",
    "reason",
)
_DEAL_KEYS = ("time", "type", "entry", "volume", "price", "profit", "commission", "swap", "reason")


def _trades(result: BacktestResult) -> tuple[list[list[Any]], list[list[Any]]]:
    orders = [[order.get(key) for key in _ORDER_KEYS] for order in result.orders]
    deals = [[deal.get(key) for key in _DEAL_KEYS] for deal in result.deals]
    return orders, deals


BacktestCache = dict[tuple[str, str, int], tuple[list[list[Any]], list[list[Any]]]]


def _conversion_bars(symbol: str, timeframe: str, bars: int) -> dict[str, pd.DataFrame]:
    """Sample bars of the pairs that turn a cross's money into USD (USDJPY for GBPJPY's yen)."""
    return {
        pair: sample_bars(pair, timeframe, bars=bars)
        for pair in conversion_pairs(symbol, ACCOUNT_CURRENCY)
    }


def backtest_equivalent(
    expected: StrategySpec,
    actual: StrategySpec,
    *,
    bars: int = DEFAULT_SAMPLE_BARS,
    cache: BacktestCache | None = None,
) -> Equivalence:
    """Run both specs on ``bars`` bars of the bundled sample of each symbol and compare every order
    and deal (times, types, volumes, prices, stops, targets, profits; magic and comment aside)."""
    if sorted(expected.symbols) != sorted(actual.symbols):
        return Equivalence(
            False, f"symbols differ: {list(expected.symbols)} vs {list(actual.symbols)}"
        )
    if expected.timeframe != actual.timeframe:
        return Equivalence(False, f"timeframes differ: {expected.timeframe} vs {actual.timeframe}")
    cache = {} if cache is None else cache
    total = 0
    notes = []
    for symbol in sorted(expected.symbols):
        try:
            data = sample_bars(symbol, expected.timeframe, bars=bars)
            conversions = _conversion_bars(symbol, expected.timeframe, bars)
            runs = []
            for spec in (expected, actual):
                key = (spec_hash(spec), symbol, bars)
                if key not in cache:
                    result = run_backtest(spec, data, symbol=symbol, conversion_bars=conversions)
                    cache[key] = _trades(result)
                runs.append(cache[key])
        except NlTraderError as error:
            return Equivalence(False, f"{symbol}: cannot backtest: {error}")
        (orders_a, deals_a), (orders_b, deals_b) = runs
        total += len(orders_a)
        for kind, left, right, keys in (
            ("order", orders_a, orders_b, _ORDER_KEYS),
            ("deal", deals_a, deals_b, _DEAL_KEYS),
        ):
            for index, (a, b) in enumerate(zip(left, right, strict=False)):
                if not same(a, b):
                    field_name = next(
                        k for k, x, y in zip(keys, a, b, strict=True) if not same(x, y)
                    )
                    return Equivalence(
                        False,
                        f"{symbol}: {kind} {index + 1} differs in {field_name} "
                        f"({_short(a[keys.index(field_name)])} vs {_short(b[keys.index(field_name)])})",
                        total,
                    )
            if len(left) != len(right):
                return Equivalence(
                    False, f"{symbol}: {len(left)} {kind}s expected, {len(right)} sent", total
                )
        notes.append(f"{symbol} {len(orders_a)} orders")
    return Equivalence(
        True,
        f"same orders and deals on {bars} {expected.timeframe} sample bars ({', '.join(notes)})",
        total,
    )


# ---- scoring one case -----------------------------------------------------------------------------
Got = Outcome | Literal["error"]


@dataclass
class CaseResult:
    """How one case went: the outcome, and for specs, field by field."""

    id: str
    language: str
    tags: list[str]
    expected: Outcome
    got: Got
    outcome_correct: bool
    passed: bool  # outcome right, and for a spec an exact (semantic) match
    exact_match: bool | None = None  # spec cases: None when no spec came back
    fields: dict[str, bool] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    backtest_equivalent: bool | None = None
    backtest_note: str = ""
    missing_expected: list[str] = field(default_factory=list)
    missing_got: list[str] = field(default_factory=list)
    missing_recall: float | None = None  # clarify cases answered with a question
    unsupported_expected: list[str] = field(default_factory=list)
    unsupported_got: list[str] = field(default_factory=list)
    unsupported_named: bool | None = None  # refuse cases answered with a refusal
    language_detected: str | None = None
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    error: str | None = None
    problems: list[str] = field(default_factory=list)  # of the last answer, when none was usable
    spec_hash: str | None = None

    @property
    def summary_line(self) -> str:
        """What went wrong, in one line (empty when the case passed)."""
        if self.passed:
            return ""
        if self.error:
            return self.error
        if not self.outcome_correct:
            return f"expected {self.expected}, got {self.got}"
        if self.differences:
            return self.differences[0]
        return ""


def score_case(
    case: EvalCase,
    answer: Translation | TranslationError | NlTraderError,
    *,
    latency_s: float,
    bars: int = DEFAULT_SAMPLE_BARS,
    backtest: bool = True,
    cache: BacktestCache | None = None,
) -> CaseResult:
    """Score one answer (a translation, or the error ``translate`` raised) against its case."""
    expect = case.expect
    row = CaseResult(
        id=case.id,
        language=case.language,
        tags=list(case.tags),
        expected=expect.outcome,
        got="error",
        outcome_correct=False,
        passed=False,
        missing_expected=list(expect.missing),
        unsupported_expected=list(expect.unsupported),
        latency_s=latency_s,
    )
    if not isinstance(answer, Translation):
        usage = getattr(answer, "usage", TokenUsage())
        row.attempts = int(getattr(answer, "attempts", 0))
        row.input_tokens, row.output_tokens = usage.input_tokens, usage.output_tokens
        row.error = f"{type(answer).__name__}: {answer}"
        row.problems = [str(problem) for problem in getattr(answer, "problems", ()) or ()]
        if expect.outcome == "spec":
            _no_spec(row, backtest)
        return row
    row.got = answer.outcome
    row.language_detected = answer.language
    row.attempts = answer.attempts
    row.input_tokens = answer.usage.input_tokens
    row.output_tokens = answer.usage.output_tokens
    row.outcome_correct = answer.outcome == expect.outcome
    row.missing_got = list(answer.missing)
    row.unsupported_got = list(answer.unsupported)
    if answer.spec is not None:
        row.spec_hash = spec_hash(answer.spec)
    if expect.outcome == "spec":
        if answer.spec is None or expect.spec is None:
            _no_spec(row, backtest)
        else:
            comparison = compare_specs(expect.spec, answer.spec)
            row.fields = comparison.fields
            row.differences = list(comparison.differences)
            row.exact_match = comparison.exact
            if backtest:
                equivalence = backtest_equivalent(expect.spec, answer.spec, bars=bars, cache=cache)
                row.backtest_equivalent = equivalence.equivalent
                row.backtest_note = equivalence.note
        row.passed = bool(row.outcome_correct and row.exact_match)
    elif expect.outcome == "clarify":
        if answer.outcome == "clarify":
            asked = {_top_field(item) for item in answer.missing}
            row.missing_recall = sum(f in asked for f in expect.missing) / len(expect.missing)
        row.passed = row.outcome_correct
    else:
        if answer.outcome == "refuse":
            named = " | ".join(answer.unsupported).lower()
            row.unsupported_named = all(word in named for word in expect.unsupported)
        row.passed = row.outcome_correct
    return row


def _no_spec(row: CaseResult, backtest: bool) -> None:
    row.exact_match = False
    if backtest:
        row.backtest_equivalent = False
        row.backtest_note = "no spec came back"


# ---- summary --------------------------------------------------------------------------------------
def precision_recall(
    pairs: Iterable[tuple[str, str]], label: str
) -> tuple[float | None, float | None]:
    """Precision and recall of ``label`` over (expected, got) pairs; None where undefined (no
    answer, or no case, had that label)."""
    items = list(pairs)
    true_positive = sum(1 for expected, got in items if expected == label and got == label)
    predicted = sum(1 for _, got in items if got == label)
    actual = sum(1 for expected, _ in items if expected == label)
    precision = true_positive / predicted if predicted else None
    recall = true_positive / actual if actual else None
    return precision, recall


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` 0.95 is the p95); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _rate(hits: Iterable[bool | None]) -> float | None:
    known = [bool(hit) for hit in hits if hit is not None]
    return sum(known) / len(known) if known else None


@dataclass
class EvalSummary:
    """The figures of one eval run. Rates are fractions (0..1); None where undefined."""

    cases: int
    languages: dict[str, int]
    pass_rate: float | None
    outcome_accuracy: float | None
    spec_cases: int
    exact_match_rate: float | None  # of the cases expecting a spec
    backtest_equivalent_rate: float | None  # of the cases expecting a spec
    field_accuracy: dict[str, float | None]  # of the cases where both sides are specs
    spec_pairs: int
    spec_precision: float | None
    spec_recall: float | None
    clarify_precision: float | None
    clarify_recall: float | None
    refuse_precision: float | None
    refuse_recall: float | None
    missing_recall: float | None
    unsupported_named_rate: float | None
    language_accuracy: float | None  # the text's language, as translate detected it
    confusion: dict[str, dict[str, int]]  # expected -> got -> count
    errors: int
    repaired: int  # answered right only after an ask-again
    mean_attempts: float | None
    input_tokens: int
    output_tokens: int
    mean_tokens_per_case: float | None
    latency_mean_s: float | None
    latency_p95_s: float | None
    by_language: dict[str, dict[str, float | int | None]]
    by_tag: dict[str, dict[str, float | int | None]]


def summarise(rows: Sequence[CaseResult]) -> EvalSummary:
    """The summary figures of scored cases."""
    pairs = [(row.expected, row.got) for row in rows]
    spec_rows = [row for row in rows if row.expected == "spec"]
    both = [row for row in spec_rows if row.fields]
    precision_of = {label: precision_recall(pairs, label) for label in OUTCOMES}
    confusion: dict[str, dict[str, int]] = {
        expected: dict.fromkeys((*OUTCOMES, "error"), 0) for expected in OUTCOMES
    }
    for expected, got in pairs:
        confusion[expected][got] += 1
    latencies = [row.latency_s for row in rows]
    attempts = [row.attempts for row in rows if row.attempts]
    tokens = sum(row.input_tokens + row.output_tokens for row in rows)

    def group(members: Sequence[CaseResult]) -> dict[str, float | int | None]:
        specs = [row.exact_match for row in members if row.expected == "spec"]
        return {
            "cases": len(members),
            "pass_rate": _rate(row.passed for row in members),
            "outcome_accuracy": _rate(row.outcome_correct for row in members),
            "exact_match_rate": _rate(specs),
        }

    tags = sorted({tag for row in rows for tag in row.tags})
    return EvalSummary(
        cases=len(rows),
        languages=dict(Counter(row.language for row in rows)),
        pass_rate=_rate(row.passed for row in rows),
        outcome_accuracy=_rate(row.outcome_correct for row in rows),
        spec_cases=len(spec_rows),
        exact_match_rate=_rate(row.exact_match for row in spec_rows),
        backtest_equivalent_rate=_rate(row.backtest_equivalent for row in spec_rows),
        field_accuracy={name: _rate(row.fields[name] for row in both) for name in SPEC_FIELDS},
        spec_pairs=len(both),
        spec_precision=precision_of["spec"][0],
        spec_recall=precision_of["spec"][1],
        clarify_precision=precision_of["clarify"][0],
        clarify_recall=precision_of["clarify"][1],
        refuse_precision=precision_of["refuse"][0],
        refuse_recall=precision_of["refuse"][1],
        missing_recall=(
            sum(r.missing_recall for r in rows if r.missing_recall is not None)
            / len([r for r in rows if r.missing_recall is not None])
            if any(r.missing_recall is not None for r in rows)
            else None
        ),
        unsupported_named_rate=_rate(row.unsupported_named for row in rows),
        language_accuracy=_rate(
            row.language_detected == row.language if row.language_detected else None for row in rows
        ),
        confusion=confusion,
        errors=sum(1 for row in rows if row.got == "error"),
        repaired=sum(1 for row in rows if row.attempts > 1 and row.passed),
        mean_attempts=sum(attempts) / len(attempts) if attempts else None,
        input_tokens=sum(row.input_tokens for row in rows),
        output_tokens=sum(row.output_tokens for row in rows),
        mean_tokens_per_case=tokens / len(rows) if rows else None,
        latency_mean_s=sum(latencies) / len(latencies) if latencies else None,
        latency_p95_s=percentile(latencies, 0.95),
        by_language={
            language: group([row for row in rows if row.language == language])
            for language in sorted({row.language for row in rows})
        },
        by_tag={tag: group([row for row in rows if tag in row.tags]) for tag in tags},
    )


# ---- the run --------------------------------------------------------------------------------------
def select_cases(cases: Sequence[EvalCase], only: Sequence[str] = ()) -> list[EvalCase]:
    """The cases whose id contains one of ``only``, or that carry one of them as a tag (all cases
    when ``only`` is empty)."""
    if not only:
        return list(cases)
    return [case for case in cases if any(word in case.id or word in case.tags for word in only)]


def output_problems(path: Path, option: str) -> list[str]:
    """Why ``path`` cannot take a file written by ``write_whole`` (checked before a long run)."""
    if path.is_dir():
        return [f"{option}: {path} is a folder; name a file in it"]
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return [f"{option}: {parent} is a file, not a folder"]
            break
    return []


class RecordingChatModel(BaseChatModel):
    """Passes every request to ``inner`` and keeps its raw replies, keyed by the case's text, as a
    scripted-model script: a real model's run, recorded to be replayed offline."""

    inner: BaseChatModel
    _replies: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _match: str = PrivateAttr(default="")

    @property
    def _llm_type(self) -> str:
        return f"recording-{self.inner._llm_type}"

    def start_case(self, case: EvalCase) -> None:
        """Key the replies that follow by ``case``'s text."""
        self._match = case.text.strip()

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        result = self.inner._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        for generation in result.generations:
            reply: dict[str, Any] = {"match": self._match, "content": generation.message.text}
            usage = getattr(generation.message, "usage_metadata", None)
            if usage:
                reply["usage"] = {
                    "input_tokens": int(usage.get("input_tokens", 0)),
                    "output_tokens": int(usage.get("output_tokens", 0)),
                }
            self._replies.append(reply)
        return result

    def script(self, model: str) -> dict[str, Any]:
        """The recorded replies as a script file's data (``scripted:FILE`` replays it)."""
        return {"version": 1, "model": model, "replies": list(self._replies)}

    def write_script(self, path: Path, model: str) -> None:
        """Write the recorded replies to ``path`` as a script file, whole or not at all."""
        write_whole(path, json.dumps(self.script(model), ensure_ascii=False, indent=1) + "\n")


@dataclass
class EvalReport:
    """One eval run: where it came from, every case, and the summary."""

    model: str
    llm: str
    prompt_version: str
    prompt_hash: str
    started_at: str
    elapsed_s: float
    cases_dir: str
    sample_bars: int
    rows: list[CaseResult]
    summary: EvalSummary

    def to_json(self) -> dict[str, Any]:
        """The report as JSON data: run facts, the summary, then one row per case."""
        return {
            "report_version": REPORT_VERSION,
            "model": self.model,
            "llm": self.llm,
            "prompt_version": self.prompt_version,
            "prompt_hash": self.prompt_hash,
            "started_at": self.started_at,
            "elapsed_s": round(self.elapsed_s, 3),
            "cases_dir": self.cases_dir,
            "sample_bars": self.sample_bars,
            "summary": asdict(self.summary),
            "cases": [asdict(row) for row in self.rows],
        }

    def write_json(self, path: Path) -> None:
        """Write the report to ``path`` (folders made as needed), whole or not at all."""
        write_whole(path, json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n")


CaseDone = Callable[[EvalCase, CaseResult], None]


def run_eval(
    cases: Sequence[EvalCase],
    llm: BaseChatModel,
    *,
    llm_name: str = "",
    max_attempts: int = 3,
    bars: int = DEFAULT_SAMPLE_BARS,
    backtest: bool = True,
    cases_dir: Path | None = None,
    on_case: CaseDone | None = None,
) -> EvalReport:
    """Translate every case with ``llm`` and score it. A ``TranslationError`` (or any product
    error from the model) is the case's failure, with its reason; the run goes on."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    cache: BacktestCache = {}
    rows: list[CaseResult] = []
    model = prompt_version = prompt_hash = ""
    for case in cases:
        if isinstance(llm, RecordingChatModel):
            llm.start_case(case)
        began = time.perf_counter()
        answer: Translation | NlTraderError
        try:
            answer = translate(case.text, llm, max_attempts=max_attempts)
        except NlTraderError as error:
            answer = error
        latency_s = time.perf_counter() - began
        if isinstance(answer, Translation):
            latency_s = answer.latency_s
            model = model or answer.model
            prompt_version = prompt_version or answer.prompt_version
            prompt_hash = prompt_hash or answer.prompt_hash
        row = score_case(
            case, answer, latency_s=latency_s, bars=bars, backtest=backtest, cache=cache
        )
        rows.append(row)
        if on_case is not None:
            on_case(case, row)
    if not prompt_hash:  # no case came back: the prompts translate would have used
        prompts = load_prompts()
        prompt_version, prompt_hash = prompts.version, prompts.hash
    return EvalReport(
        model=model or "unknown",
        llm=llm_name,
        prompt_version=prompt_version,
        prompt_hash=prompt_hash,
        started_at=started_at,
        elapsed_s=time.perf_counter() - started,
        cases_dir=str(cases_dir) if cases_dir else "",
        sample_bars=bars,
        rows=rows,
        summary=summarise(rows),
    )

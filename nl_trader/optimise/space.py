"""A search space over a spec's numbers: which ones vary, over which values, under which constraints.

A parameter names a number in the spec by its path, the spec's JSON keys joined by dots, a list
element by its ``id`` (indicators) or its index: ``indicators.fast.params.period``,
``exits.stop_loss.value``, ``sizing.lots``, ``long_entry.right.offset_pips``. Its values are a
range ``LOW:HIGH:STEP`` (both ends included: ``5:50:5`` is 5, 10, .., 50), a range without a step
``LOW:HIGH`` (continuous, for a model-based search; a grid needs a step), or a list ``a,b,c``.
Integers stay integers where the spec holds an integer.

A constraint compares two parameters (``indicators.fast.params.period < indicators.slow.params.period``);
a set that breaks one is never tested. ``SearchSpace.check(spec)`` refuses, naming each, a path
the spec does not have, a path that holds no number, an empty or inverted range, a step that does
not divide it, and a value the spec's own validation refuses (each range's ends are tried on the
spec). ``grid()`` lists every set in a fixed order; ``apply(spec, values)`` gives the spec with
them, validated like any other spec.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from nl_trader.errors import InvalidInputError
from nl_trader.spec import StrategySpec, parse_spec

Number = int | float
MAX_GRID_SETS = 1_000_000  # a grid beyond this is a mistake in the ranges, not a plan

_COMPARISONS: Mapping[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "!=": operator.ne,
}
_CONSTRAINT = re.compile(r"^\s*(?P<left>[\w.\-]+)\s*(?P<op><=|>=|!=|<|>)\s*(?P<right>[\w.\-]+)\s*$")


@dataclass(frozen=True)
class Param:
    """One number of the spec that varies: its path and its values (a range or a list)."""

    path: str
    low: Number | None = None
    high: Number | None = None
    step: Number | None = None
    choices: tuple[Number, ...] = ()

    @property
    def continuous(self) -> bool:
        """A range without a step: any value between its ends (model-based search only)."""
        return not self.choices and self.step is None

    def values(self) -> tuple[Number, ...]:
        """Every value a grid visits, in order (both ends of a range included)."""
        if self.choices:
            return self.choices
        if self.step is None or self.low is None or self.high is None:
            raise InvalidInputError(
                [f"param {self.path}: a grid needs a step (LOW:HIGH:STEP) or a list (a,b,c)"],
                what="search space",
            )
        low, high, step = (Decimal(str(x)) for x in (self.low, self.high, self.step))
        count = int((high - low) / step) + 1
        found = [low + step * k for k in range(count)]
        whole = all(isinstance(x, int) for x in (self.low, self.high, self.step))
        return tuple(int(v) if whole else float(v) for v in found)

    def __str__(self) -> str:
        if self.choices:
            return f"{self.path}={','.join(str(c) for c in self.choices)}"
        step = f":{self.step}" if self.step is not None else ""
        return f"{self.path}={self.low}:{self.high}{step}"


@dataclass(frozen=True)
class Constraint:
    """``left OP right`` between two parameters' values (``<``, ``<=``, ``>``, ``>=``, ``!=``)."""

    left: str
    op: str
    right: str

    def holds(self, values: Mapping[str, Number]) -> bool:
        return _COMPARISONS[self.op](values[self.left], values[self.right])

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


def _number(text: str, where: str, problems: list[str]) -> Number | None:
    text = text.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        problems.append(f"{where}: {text!r} is not a number")
        return None
    if not value.is_finite():
        problems.append(f"{where}: {text!r} is not a finite number")
        return None
    return (
        int(value)
        if value == value.to_integral_value() and "." not in text and "e" not in text.lower()
        else float(value)
    )


def parse_param(text: str) -> Param:
    """``PATH=LOW:HIGH:STEP``, ``PATH=LOW:HIGH`` or ``PATH=a,b,c`` (the CLI's ``--param``)."""
    path, sep, values = text.partition("=")
    path = path.strip()
    where = f"param {path or text!r}"
    if not sep or not path or not values.strip():
        raise InvalidInputError(
            [f"{where}: expected PATH=LOW:HIGH:STEP, PATH=LOW:HIGH or PATH=a,b,c, got {text!r}"],
            what="search space",
        )
    problems: list[str] = []
    if ":" in values:
        parts = values.split(":")
        if len(parts) not in (2, 3):
            raise InvalidInputError(
                [f"{where}: a range is LOW:HIGH or LOW:HIGH:STEP, got {values!r}"],
                what="search space",
            )
        low, high, *rest = (_number(part, where, problems) for part in parts)
        step = rest[0] if rest else None
        if problems:
            raise InvalidInputError(problems, what="search space")
        param = Param(path, low=low, high=high, step=step)
    else:
        choices = tuple(_number(part, where, problems) for part in values.split(","))
        if problems:
            raise InvalidInputError(problems, what="search space")
        if len(set(choices)) != len(choices):
            raise InvalidInputError([f"{where}: a value is listed twice"], what="search space")
        param = Param(path, choices=tuple(c for c in choices if c is not None))
    problems = _range_problems(param)
    if problems:
        raise InvalidInputError(problems, what="search space")
    return param


def _range_problems(param: Param) -> list[str]:
    if param.choices:
        return []
    where = f"param {param.path}"
    low, high, step = param.low, param.high, param.step
    if low is None or high is None:
        return [f"{where}: a range needs both ends"]
    if low > high:
        return [f"{where}: the range {low}:{high} is inverted (LOW above HIGH)"]
    if step is None:
        return [] if low < high else [f"{where}: the range {low}:{high} holds one value; list it"]
    if step <= 0:
        return [f"{where}: the step {step} must be above 0"]
    span = Decimal(str(high)) - Decimal(str(low))
    if span % Decimal(str(step)) != 0:
        return [f"{where}: the step {step} does not divide {low}:{high} (the high end is missed)"]
    return []


def parse_constraint(text: str) -> Constraint:
    """``PATH OP PATH``, e.g. ``indicators.fast.params.period < indicators.slow.params.period``."""
    match = _CONSTRAINT.match(text)
    if match is None:
        raise InvalidInputError(
            [f"constraint {text!r}: expected PATH OP PATH with OP one of <, <=, >, >=, !="],
            what="search space",
        )
    return Constraint(match["left"], match["op"], match["right"])


# ---- paths into the spec -----------------------------------------------------------------------
def short_path(path: str) -> str:
    """A path as a column or axis names it: ``indicators.fast.params.period`` -> ``fast.period``."""
    return ".".join(part for part in path.split(".") if part not in ("indicators", "params"))


def _step_into(node: Any, key: str) -> tuple[bool, Any]:
    """The child ``key`` of a JSON node: a dict's key, a list's element by ``id`` or index."""
    if isinstance(node, dict):
        return (key in node), node.get(key)
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and item.get("id") == key:
                return True, item
        if key.isdigit() and int(key) < len(node):
            return True, node[int(key)]
    return False, None


def read_path(document: Any, path: str) -> tuple[bool, Any]:
    """The value at ``path`` in a spec's JSON, and whether the path exists."""
    node = document
    for key in path.split("."):
        found, node = _step_into(node, key)
        if not found:
            return False, None
    return True, node


def _write_path(document: Any, path: str, value: Number) -> None:
    *parents, last = path.split(".")
    node = document
    for key in parents:
        _, node = _step_into(node, key)
    if isinstance(node, list):
        index = next(
            (i for i, item in enumerate(node) if isinstance(item, dict) and item.get("id") == last),
            int(last) if last.isdigit() else -1,
        )
        node[index] = value
    else:
        node[last] = value


def _path_problem(document: Any, path: str) -> str | None:
    node = document
    walked: list[str] = []
    for key in path.split("."):
        found, child = _step_into(node, key)
        if not found:
            where = ".".join(walked) or "the spec"
            if isinstance(node, dict):
                known = ", ".join(sorted(node)) or "nothing"
                return f"param {path}: {where} has no {key!r} (it has {known})"
            if isinstance(node, list):
                ids = [
                    str(item.get("id")) for item in node if isinstance(item, dict) and "id" in item
                ]
                named = f"ids {', '.join(ids)}" if ids else f"indexes 0..{len(node) - 1}"
                return f"param {path}: {where} has no element {key!r} ({named})"
            return f"param {path}: {where} is a value, not a table"
        walked.append(key)
        node = child
    if isinstance(node, bool) or not isinstance(node, int | float):
        return f"param {path}: holds {node!r}, not a number"
    return None


@dataclass(frozen=True)
class SearchSpace:
    """The parameters that vary and the constraints between them (module docstring)."""

    params: tuple[Param, ...]
    constraints: tuple[Constraint, ...] = ()

    @classmethod
    def parse(cls, params: Sequence[str], constraints: Sequence[str] = ()) -> SearchSpace:
        """From the CLI's ``--param`` and ``--constraint`` texts; every mistake named at once."""
        problems: list[str] = []
        parsed: list[Param] = []
        for text in params:
            try:
                parsed.append(parse_param(text))
            except InvalidInputError as error:
                problems.extend(error.problems)
        rules: list[Constraint] = []
        for text in constraints:
            try:
                rules.append(parse_constraint(text))
            except InvalidInputError as error:
                problems.extend(error.problems)
        if problems:
            raise InvalidInputError(problems, what="search space")
        return cls(tuple(parsed), tuple(rules))

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(param.path for param in self.params)

    def check(self, spec: StrategySpec) -> None:
        """Refuse a space that does not fit ``spec``, naming every problem (module docstring)."""
        problems: list[str] = []
        if not self.params:
            problems.append(
                "params: give at least one parameter to vary (--param PATH=LOW:HIGH:STEP)"
            )
        seen: set[str] = set()
        for param in self.params:
            if param.path in seen:
                problems.append(f"param {param.path}: given twice")
            seen.add(param.path)
        for rule in self.constraints:
            for side in (rule.left, rule.right):
                if side not in seen:
                    problems.append(f"constraint {rule}: {side} is not a parameter of the space")
        document = spec.model_dump(mode="json")
        for param in self.params:
            problem = _path_problem(document, param.path)
            if problem is not None:
                problems.append(problem)
                continue
            _, current = read_path(document, param.path)
            ends = param.choices or tuple(v for v in (param.low, param.high) if v is not None)
            for value in ends:
                if isinstance(current, int) and not float(value).is_integer():
                    problems.append(
                        f"param {param.path}: {value} is not a whole number, as the spec's "
                        f"{current} is"
                    )
                    continue
                try:
                    self.apply(spec, {param.path: value}, check=False)
                except InvalidInputError as error:
                    problems.extend(f"param {param.path}={value}: {p}" for p in error.problems)
        if problems:
            raise InvalidInputError(problems, what="search space")

    def allows(self, values: Mapping[str, Number]) -> bool:
        """Whether a set keeps every constraint."""
        return all(rule.holds(values) for rule in self.constraints)

    def grid_size(self) -> int:
        """How many sets the full grid has, before the constraints."""
        return math.prod(len(param.values()) for param in self.params)

    def grid(self) -> Iterator[dict[str, Number]]:
        """Every set of the grid that keeps the constraints, the last parameter varying fastest."""
        size = self.grid_size()
        if size > MAX_GRID_SETS:
            raise InvalidInputError(
                [
                    f"params: the grid has {size:,} sets, more than {MAX_GRID_SETS:,}; widen the steps"
                ],
                what="search space",
            )
        for combination in itertools.product(*(param.values() for param in self.params)):
            values = dict(zip(self.paths, combination, strict=True))
            if self.allows(values):
                yield values

    def apply(
        self, spec: StrategySpec, values: Mapping[str, Number], *, check: bool = True
    ) -> StrategySpec:
        """``spec`` with ``values`` at their paths, validated as any spec is (an error names the
        spec's field). ``check``: refuse a set that breaks a constraint."""
        if check and not self.allows(values):
            broken = [str(rule) for rule in self.constraints if not rule.holds(values)]
            raise InvalidInputError(
                [f"set {dict(values)}: breaks {', '.join(broken)}"], what="search space"
            )
        document = spec.model_dump(mode="json")
        for path, value in values.items():
            found, current = read_path(document, path)
            if not found:
                raise InvalidInputError([f"param {path}: not in the spec"], what="search space")
            _write_path(document, path, int(value) if isinstance(current, int) else float(value))
        return parse_spec(document)

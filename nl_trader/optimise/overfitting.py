"""How much of an optimisation's best result is luck: the deflated Sharpe ratio and the PBO.

* ``deflated_sharpe_ratio`` (Bailey and Lopez de Prado, 2014): the probability that the true
  Sharpe ratio of the chosen set is above zero, given that it was the best of ``trials`` tries
  whose Sharpe ratios varied by ``trials_sharpe_variance``, and given the returns' length, skew
  and kurtosis. The best of many tries has a high Sharpe ratio by chance alone: the expected
  maximum of ``trials`` draws, ``expected_max_sharpe``, is the bar it must clear.
* ``probability_of_backtest_overfitting`` (Bailey, Borwein, Lopez de Prado and Zhu, 2015;
  combinatorially symmetric cross-validation): the returns of every trial, period by period, are
  cut into ``blocks``; for every way of choosing half the blocks as in-sample, the trial best
  in-sample is ranked among all trials out of sample. PBO is the share of choices where it ranks
  in the bottom half: near 0, the optimisation picks sets that keep working; 0.5 and above, it
  picks noise.

Sharpe ratios here are per period (the returns' own period: per trade, per day), not annualised.

``judge`` applies both to a study's chosen set (its daily returns against every feasible trial's)
and adds a stability view: the chosen set's neighbours on the grid (one step away in one
parameter) and their mean objective as a share of its own; near 1 is a plateau, far below a spike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from nl_trader.errors import InvalidInputError

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def sharpe_ratio(returns: np.ndarray) -> float:
    """Mean over standard deviation (sample, ddof=1) of per-period returns; 0 without spread."""
    values = np.asarray(returns, dtype="float64")
    if values.size < 2:
        return 0.0
    spread = float(values.std(ddof=1))
    return float(values.mean()) / spread if spread > 0 else 0.0


def expected_max_sharpe(trials: int, trials_sharpe_variance: float) -> float:
    """The Sharpe ratio the best of ``trials`` tries reaches by chance when their true Sharpe
    ratio is zero (Bailey and Lopez de Prado's approximation of the expected maximum)."""
    if trials < 1:
        raise InvalidInputError([f"trials: {trials} must be at least 1"], what="overfitting")
    if trials_sharpe_variance < 0:
        raise InvalidInputError(
            [f"trials_sharpe_variance: {trials_sharpe_variance} must not be negative"],
            what="overfitting",
        )
    if trials == 1:
        return 0.0
    z = _NORMAL.inv_cdf
    spread = math.sqrt(trials_sharpe_variance)
    return spread * (
        (1 - EULER_GAMMA) * z(1 - 1 / trials) + EULER_GAMMA * z(1 - 1 / (trials * math.e))
    )


def deflated_sharpe_ratio(
    sharpe: float,
    *,
    observations: int,
    trials: int,
    trials_sharpe_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """The probability that the chosen set's true Sharpe ratio is above the best-by-chance bar
    (module docstring). ``kurtosis`` is the plain (not excess) kurtosis: 3 for normal returns."""
    if observations < 2:
        raise InvalidInputError(
            [f"observations: {observations} returns; at least 2 are needed"], what="overfitting"
        )
    bar = expected_max_sharpe(trials, trials_sharpe_variance)
    spread = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if spread <= 0:
        raise InvalidInputError(
            [f"skew, kurtosis: {skew}, {kurtosis} give no spread to the Sharpe ratio's estimate"],
            what="overfitting",
        )
    return _NORMAL.cdf((sharpe - bar) * math.sqrt(observations - 1) / math.sqrt(spread))


@dataclass(frozen=True)
class PBO:
    """The probability of backtest overfitting and the logits it counts (one per split)."""

    probability: float
    logits: tuple[float, ...]
    splits: int


def probability_of_backtest_overfitting(returns: np.ndarray, *, blocks: int = 8) -> PBO:
    """CSCV over ``returns`` (periods x trials, each column a trial's per-period returns), cut
    into ``blocks`` (even) row blocks (module docstring). The performance of a trial on a part is
    its Sharpe ratio there; ranks among trials are 1 (worst) .. N (best), ties averaged."""
    matrix = np.asarray(returns, dtype="float64")
    problems = []
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        problems.append("returns: expected periods x trials, with at least 2 trials")
    if blocks < 2 or blocks % 2:
        problems.append(f"blocks: {blocks} must be an even number, at least 2")
    elif matrix.ndim == 2 and matrix.shape[0] < 2 * blocks:
        problems.append(f"returns: {matrix.shape[0]} periods are too few for {blocks} blocks")
    if problems:
        raise InvalidInputError(problems, what="overfitting")
    parts = np.array_split(np.arange(matrix.shape[0]), blocks)
    trials = matrix.shape[1]
    logits = []
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        inside = np.concatenate([parts[b] for b in chosen])
        outside = np.concatenate([parts[b] for b in range(blocks) if b not in chosen])
        in_perf = np.array([sharpe_ratio(matrix[inside, t]) for t in range(trials)])
        out_perf = np.array([sharpe_ratio(matrix[outside, t]) for t in range(trials)])
        best = int(np.argmax(in_perf))
        rank = _average_rank(out_perf)[best]
        omega = rank / (trials + 1)
        logits.append(math.log(omega / (1 - omega)))
    below = sum(1 for value in logits if value <= 0)
    return PBO(below / len(logits), tuple(logits), len(logits))


def _average_rank(values: np.ndarray) -> np.ndarray:
    """Ranks 1..N (ascending), ties given their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype="float64")
    ranks[order] = np.arange(1, len(values) + 1, dtype="float64")
    for value in np.unique(values):
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


# ---- a study's chosen set ---------------------------------------------------------------------
@dataclass(frozen=True)
class Stability:
    """Is the chosen set on a plateau or a spike: its neighbours (one step away in one
    parameter) and their mean objective as a share of the chosen set's."""

    neighbours: tuple[tuple[dict[str, float], float], ...]
    ratio: float | None


@dataclass(frozen=True)
class Overfitting:
    """The chosen set of a study, judged: deflated Sharpe ratio, PBO, stability."""

    trials: int
    sharpe: float | None
    deflated_sharpe: float | None
    pbo: PBO | None
    stability: Stability

    def to_dict(self) -> dict[str, object]:
        return {
            "trials": self.trials,
            "sharpe_daily": self.sharpe,
            "deflated_sharpe": self.deflated_sharpe,
            "pbo": None if self.pbo is None else self.pbo.probability,
            "pbo_splits": None if self.pbo is None else self.pbo.splits,
            "stability": self.stability.ratio,
            "neighbours": len(self.stability.neighbours),
        }


def judge(
    chosen_values: Mapping[str, float],
    chosen_objective: float,
    trials: Sequence[tuple[Mapping[str, float], float, Sequence[float]]],
    steps: Mapping[str, Sequence[float]],
    *,
    blocks: int = 8,
) -> Overfitting:
    """Judge the chosen set against the study's feasible ``trials`` (values, objective, daily
    returns). ``steps``: each parameter's ordered values (its grid), for the neighbours."""
    chosen_returns = next(
        (np.asarray(r, dtype="float64") for v, _, r in trials if dict(v) == dict(chosen_values)),
        np.zeros(0),
    )
    sharpes = [sharpe_ratio(np.asarray(r, dtype="float64")) for _, _, r in trials if len(r) > 1]
    sharpe = sharpe_ratio(chosen_returns) if chosen_returns.size > 1 else None
    deflated = None
    if sharpe is not None and len(sharpes) >= 1 and chosen_returns.size > 2:
        centred = chosen_returns - chosen_returns.mean()
        spread = float(chosen_returns.std())
        skew = float((centred**3).mean() / spread**3) if spread > 0 else 0.0
        kurtosis = float((centred**4).mean() / spread**4) if spread > 0 else 3.0
        try:
            deflated = deflated_sharpe_ratio(
                sharpe,
                observations=int(chosen_returns.size),
                trials=len(sharpes),
                trials_sharpe_variance=float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0,
                skew=skew,
                kurtosis=kurtosis,
            )
        except InvalidInputError:
            deflated = None
    pbo = None
    series = [np.asarray(r, dtype="float64") for _, _, r in trials]
    if len(series) >= 2:
        length = min(len(s) for s in series)
        if length >= 2 * blocks:
            pbo = probability_of_backtest_overfitting(
                np.column_stack([s[:length] for s in series]), blocks=blocks
            )
    return Overfitting(
        len(trials),
        sharpe,
        deflated,
        pbo,
        _stability(chosen_values, chosen_objective, trials, steps),
    )


def _stability(
    chosen: Mapping[str, float],
    objective: float,
    trials: Sequence[tuple[Mapping[str, float], float, Sequence[float]]],
    steps: Mapping[str, Sequence[float]],
) -> Stability:
    def position(path: str, value: float) -> int | None:
        values = [float(v) for v in steps.get(path, ())]
        return values.index(float(value)) if float(value) in values else None

    found = []
    for values, measured, _ in trials:
        moved = [p for p in chosen if float(values[p]) != float(chosen[p])]
        if len(moved) != 1:
            continue
        path = moved[0]
        here, there = position(path, chosen[path]), position(path, values[path])
        if here is not None and there is not None and abs(here - there) == 1:
            found.append(({k: float(v) for k, v in values.items()}, float(measured)))
    ratio = None
    if found and objective != 0:
        ratio = float(np.mean([m for _, m in found])) / objective
    return Stability(tuple(found), ratio)

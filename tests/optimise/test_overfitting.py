"""The deflated Sharpe ratio and the probability of backtest overfitting on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nl_trader.errors import InvalidInputError
from nl_trader.optimise.overfitting import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    judge,
    probability_of_backtest_overfitting,
    sharpe_ratio,
)


def test_one_trial_sets_no_bar_and_the_dsr_is_the_plain_probabilistic_sharpe_ratio() -> None:
    # SR 0.1 over 101 returns, kurtosis 1 and no skew: the estimate's spread is 1, so
    # z = 0.1 * sqrt(100) = 1 and the DSR is Phi(1) = 0.841345.
    dsr = deflated_sharpe_ratio(
        0.1, observations=101, trials=1, trials_sharpe_variance=0.0, kurtosis=1.0
    )
    assert dsr == pytest.approx(0.841345, abs=1e-6)


def test_the_best_of_a_hundred_tries_clears_two_and_a_half_sharpe_by_chance() -> None:
    # (1 - 0.5772) * Z^-1(0.99) + 0.5772 * Z^-1(1 - 1/(100 e)) = 0.42278 * 2.32635 +
    # 0.57722 * 2.68153 = 2.5314 (times the trials' Sharpe spread, here 1).
    assert expected_max_sharpe(100, 1.0) == pytest.approx(2.5314, abs=1e-3)
    assert expected_max_sharpe(100, 0.25) == pytest.approx(2.5314 / 2, abs=1e-3)


def test_many_trials_deflate_a_sharpe_ratio_that_one_trial_would_trust() -> None:
    alone = deflated_sharpe_ratio(0.2, observations=250, trials=1, trials_sharpe_variance=0.01)
    among = deflated_sharpe_ratio(0.2, observations=250, trials=1_000, trials_sharpe_variance=0.01)
    assert alone > 0.99
    # The bar is 0.1 * expected max of 1,000 tries (about 3.25) = 0.325 > 0.2: below one half.
    assert among < 0.5


def test_pbo_is_one_when_the_best_in_sample_is_always_the_worst_out_of_sample() -> None:
    # Trial 0 wins the first half and loses the second; trial 1 the opposite. With 2 blocks the
    # in-sample winner ranks 1 of 2 out of sample: omega = 1/3, logit = ln(1/2) each time.
    up, down = np.tile([0.02, 0.01], 10), np.tile([-0.02, -0.01], 10)
    returns = np.column_stack([np.r_[up, down], np.r_[down, up]])
    pbo = probability_of_backtest_overfitting(returns, blocks=2)
    assert pbo.splits == 2
    assert pbo.probability == 1.0
    assert pbo.logits == pytest.approx((math.log(0.5), math.log(0.5)))


def test_pbo_is_zero_when_one_trial_is_best_everywhere() -> None:
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 0.01, size=(400, 5))
    noise[:, 2] += 0.05  # trial 2 is better in every block
    pbo = probability_of_backtest_overfitting(noise, blocks=8)
    assert pbo.splits == math.comb(8, 4)
    assert pbo.probability == 0.0
    assert all(logit == pytest.approx(math.log(5 / 1)) for logit in pbo.logits)


def test_pbo_of_pure_noise_is_one_half_on_average() -> None:
    """Among trials that are all noise, the in-sample winner is as likely to land in the bottom
    half out of sample as in the top: over 30 noise studies the PBO averages about 0.5 (one study
    alone swings widely: its splits share blocks)."""
    studies = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0, 0.01, size=(400, 20)), blocks=8
        ).probability
        for seed in range(30)
    ]
    assert 0.4 < float(np.mean(studies)) < 0.65


def test_bad_inputs_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError, match="blocks: 3 must be an even number"):
        probability_of_backtest_overfitting(np.zeros((40, 3)), blocks=3)
    with pytest.raises(InvalidInputError, match="at least 2 trials"):
        probability_of_backtest_overfitting(np.zeros((40, 1)), blocks=2)
    with pytest.raises(InvalidInputError, match="trials: 0 must be at least 1"):
        expected_max_sharpe(0, 1.0)
    assert sharpe_ratio(np.array([0.01, 0.01, 0.01])) == 0.0  # no spread, no ratio


def _trial(fast: int, objective: float, seed: int) -> tuple[dict[str, float], float, list[float]]:
    returns = np.random.default_rng(seed).normal(0.0005, 0.01, size=120)
    return {"fast": float(fast)}, objective, list(returns)


def test_a_best_set_among_equals_is_on_a_plateau_and_a_lone_peak_is_a_spike() -> None:
    steps = {"fast": [5.0, 10.0, 15.0, 20.0, 25.0]}
    plateau = [_trial(f, o, f) for f, o in ((5, 9.0), (10, 10.0), (15, 10.0), (20, 9.5), (25, 9.0))]
    judged = judge({"fast": 15.0}, 10.0, plateau, steps)
    assert [n[0]["fast"] for n in judged.stability.neighbours] == [10.0, 20.0]
    assert judged.stability.ratio == pytest.approx((10.0 + 9.5) / 2 / 10.0)
    spike = [_trial(f, o, f) for f, o in ((5, 1.0), (10, 0.5), (15, 10.0), (20, -2.0), (25, 1.0))]
    assert judge({"fast": 15.0}, 10.0, spike, steps).stability.ratio == pytest.approx(-0.075)


def test_a_chosen_set_is_judged_by_its_deflated_sharpe_and_the_studys_pbo() -> None:
    trials = [_trial(f, float(f), f) for f in (5, 10, 15, 20, 25)]
    judged = judge({"fast": 25.0}, 25.0, trials, {"fast": [5.0, 10.0, 15.0, 20.0, 25.0]})
    assert judged.trials == 5
    assert judged.sharpe == pytest.approx(sharpe_ratio(np.asarray(trials[-1][2])))
    assert judged.deflated_sharpe is not None
    assert 0.0 <= judged.deflated_sharpe <= 1.0
    assert judged.pbo is not None
    assert judged.pbo.splits == math.comb(8, 4)
    assert set(judged.to_dict()) >= {"deflated_sharpe", "pbo", "stability"}

"""``nl-trader optimize`` and ``walk-forward`` as a trader runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nl_trader.cli import app
from nl_trader.store import Store
from tests.store.builders import PASSED, copy_template

SPEC = str(Path(__file__).resolve().parents[2] / "strategies" / "ma_crossover.json")
PARAMS = [
    "--param",
    "indicators.fast.params.period=10:30:10",
    "--param",
    "indicators.slow.params.period=40:60:20",
]


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_optimize_lists_the_trials_and_names_the_best_set() -> None:
    code, output = _run("optimize", SPEC, *PARAMS, "--bars", "2000", "--objective", "profit_factor")
    assert code == 0, output
    assert "Top trials (grid, 6 run)" in output
    assert "best set: indicators.fast.params.period=" in output
    assert "6 trials in" in output
    assert "overfitting: deflated Sharpe" in output
    assert "PBO" in output


def test_a_study_kept_in_storage_resumes_without_running_a_set_twice(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.db")
    code, first = _run(
        "optimize", SPEC, *PARAMS, "--bars", "2000", "--trials", "2", "--storage", storage
    )
    assert code == 0, first
    assert "2 trials in" in first
    code, resumed = _run("optimize", SPEC, *PARAMS, "--bars", "2000", "--storage", storage)
    assert code == 0, resumed
    assert "Top trials (grid, 6 run)" in resumed  # 2 kept + the 4 left


def test_a_param_the_spec_does_not_have_exits_2_naming_it() -> None:
    code, output = _run("optimize", SPEC, "--param", "indicators.medium.params.period=10:30:10")
    assert code == 2
    assert "param indicators.medium.params.period: indicators has no element 'medium'" in output
    assert "(ids fast, slow)" in output


def test_walk_forward_prints_each_window_and_the_efficiency() -> None:
    code, output = _run(
        "walk-forward",
        SPEC,
        *PARAMS,
        "--bars",
        "3000",
        "--in-sample",
        "1200",
        "--out-of-sample",
        "600",
    )
    assert code == 0, output
    assert "Walk-forward windows" in output
    assert "stitched out of sample: net profit" in output
    assert "walk-forward efficiency" in output


def test_walk_forward_without_window_lengths_says_what_to_give() -> None:
    code, output = _run("walk-forward", SPEC, *PARAMS)
    assert code == 2
    assert "give both window lengths, or --forward" in output


def test_optimising_a_stored_strategy_records_it_and_adopting_makes_a_draft_version(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    db = str(copy_template(tmp_path_factory, tmp_path).db)
    code, output = _run(
        "optimize", str(PASSED), *PARAMS, "--bars", "2000", "--adopt", "--by", "quant", "--db", db
    )
    assert code == 0, output
    assert f"recorded as optimisation 1 of strategy {PASSED}" in output
    with Store(Path(db)) as store:
        found = store.optimisation(1)
        assert found.trials == 6
        assert found.best is not None
        version = store.current_version(PASSED)
        assert version.optimisation_id == 1
        assert version.parent_id == found.version_id
        assert store.strategy(PASSED).state.value == "draft"  # it needs its own backtest
        spec = version.spec
        chosen = found.best["values"]
        assert spec.indicators[0].params["period"] == chosen["indicators.fast.params.period"]
        assert [e.action for e in store.audit_entries()][-2:] == [
            "optimisation.recorded",
            "strategy.edited",
        ]
    code, shown = _run("show", str(PASSED), "--db", db)
    assert code == 0, shown
    assert "optimisation 1 of 6" in shown  # the version says where it came from

"""The compiled core: one build per real signature, cached outside the package, shown while built."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nl_trader import jit
from nl_trader.sim.kernel import requests

ROOT = Path(__file__).resolve().parents[1]
SEED_EXAMPLE = ROOT / "tests" / "seed_examples" / "simulated_example.py"
# Functions with more than one real signature: a row copy between float tables and between
# int tables.
EXPECTED_VERSIONS = {"sim.kernel.layout._copy_row": 2}


def _bare_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (jit.CACHE_ENV, "NUMBA_CACHE_DIR")}
    env.update(PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


_COUNT_SIGNATURES = """
import json, sys
from typer.testing import CliRunner
from nl_trader import jit
from nl_trader.cli import app
result = CliRunner().invoke(app, ["demo", "--dir", sys.argv[1], "--orders"])
assert result.exit_code == 0, result.output
print(json.dumps(jit.signature_counts()))
"""


@pytest.mark.slow
def test_each_compiled_function_builds_once_per_real_signature(tmp_path: Path) -> None:
    # From an empty cache, so that every function is compiled here (a cached caller would hide
    # its callees' builds). The demo runs a backtest, a paper session on the fake terminal and
    # the order API's tour in both routes: every request kind, bars walked by the broker and by
    # the loop, decisions made in the loop and from Python.
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_SIGNATURES, str(tmp_path / "demo")],
        cwd=ROOT,
        env=_bare_env(**{jit.CACHE_ENV: str(tmp_path / "cache")}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.splitlines()[-1])
    assert counts["backtest.loop.run_bars"] == 1
    assert counts["strategy.decide.decide_rows"] == 1  # the loop's and the paper session's
    assert counts["sim.kernel.requests.send"] == 1
    assert len(counts) > 100
    extra = {name: n for name, n in counts.items() if n > EXPECTED_VERSIONS.get(name, 1)}
    assert extra == {}, f"compiled more than once (a Literal or array-type variant): {extra}"


def test_a_helper_called_from_python_says_it_is_compiled_code_only() -> None:
    with pytest.raises(TypeError, match="_check_deal is a compiled helper"):
        requests._check_deal()


def test_a_helper_has_no_machine_code_of_its_own_only_inside_its_python_callable_caller() -> None:
    # numba emits every compiled function's module with its callees linked in; a helper's
    # own copy would be emitted again at each level of the call tree and never run.
    @jit.compiled
    def add_pip(price: float) -> float:
        return price + 0.0001

    @jit.compiled
    @jit.python_callable
    def two_pips_up(price: float) -> float:
        return add_pip(add_pip(price))

    assert two_pips_up(1.1) == pytest.approx(1.1002, abs=1e-12)
    helper = next(iter(add_pip.overloads.values())).library  # type: ignore[attr-defined]
    caller = next(iter(two_pips_up.overloads.values())).library  # type: ignore[attr-defined]
    assert isinstance(helper, jit._LinkOnlyLibrary)
    assert not helper._compiled  # no object code was emitted for the helper
    assert caller._compiled  # the caller's module, the helper inlined in it, was


def test_a_compiled_function_takes_no_default_arguments() -> None:
    def with_default(x: int, y: int = 1) -> int:
        return x + y

    with pytest.raises(TypeError, match="with_default: a compiled function takes no defaults"):
        jit.compiled(with_default)


def test_compiled_code_is_kept_in_the_user_cache_not_in_the_package() -> None:
    from nl_trader.numeric import round_to

    assert round_to(1.005, 2) == 1.0
    package = Path(jit.__file__).parent
    assert not list(package.rglob("*.nbi"))
    assert not list(package.rglob("*.nbc"))
    assert list(jit.cache_dir().rglob("numeric.round_to-*.nbi"))


def test_the_cache_lives_under_the_users_cache_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(jit.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    if sys.platform.startswith("linux"):
        assert jit.cache_dir().parent == Path("/somewhere/cache/nl_trader/compiled")
    monkeypatch.setenv(jit.CACHE_ENV, "/chosen")
    assert jit.cache_dir().parent == Path("/chosen/compiled")


def test_a_module_is_rebuilt_with_the_compiled_modules_it_compiles_against() -> None:
    package = jit.PACKAGE
    loop = jit.compiled_against(package / "backtest" / "loop.py")
    kernel = package / "sim" / "kernel"
    assert {kernel / "requests.py", kernel / "path.py", package / "strategy" / "decide.py"} <= loop
    assert package / "mt5.py" in loop  # its constants are compiled in
    money = jit.compiled_against(kernel / "money.py")
    assert kernel / "layout.py" in money
    assert kernel / "requests.py" not in money  # a request rule's edit keeps the money rules
    indicators = jit.compiled_against(package / "strategy" / "indicators.py")
    assert kernel / "path.py" not in indicators  # a kernel edit keeps them


def test_a_read_only_install_compiles_into_the_user_cache(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(
        ROOT / "nl_trader", site / "nl_trader", ignore=shutil.ignore_patterns("__pycache__")
    )
    before = sorted(p.relative_to(site) for p in site.rglob("*"))
    for path in [*site.rglob("*"), site]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    home = tmp_path / "home"
    code = "from nl_trader.numeric import round_to; print(round_to(2.675, 2))"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=_bare_env(PYTHONPATH=str(site), HOME=str(home), XDG_CACHE_HOME=""),
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        for path in [site, *site.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.67"
    assert sorted(p.relative_to(site) for p in site.rglob("*")) == before  # nothing written
    assert list((home / ".cache" / "nl_trader" / "compiled").rglob("numeric.round_to-*.nbi"))


def test_an_unusable_cache_directory_still_runs_the_code(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code = "from nl_trader.numeric import round_to; print(round_to(0.125, 2))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_bare_env(**{jit.CACHE_ENV: str(blocker / "cache")}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0.12"


@pytest.mark.slow
def test_a_killed_first_run_keeps_what_it_compiled_and_the_next_run_resumes(
    tmp_path: Path,
) -> None:
    env = _bare_env(**{jit.CACHE_ENV: str(tmp_path / "cache")})
    first = subprocess.Popen(
        [sys.executable, str(SEED_EXAMPLE)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        if len(list((tmp_path / "cache").rglob("*.nbi"))) >= 10:
            break
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    _, first_err = first.communicate()
    assert "Preparing the simulator for this machine, once: about" in first_err
    kept = len(list((tmp_path / "cache").rglob("*.nbi")))
    assert kept >= 10

    second = subprocess.run(
        [sys.executable, str(SEED_EXAMPLE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    assert "resuming: what was compiled before is kept" in second.stderr
    assert "prepared in" in second.stderr
    assert "receive_order_execution:" in second.stdout  # the seed's sell was filled
    third = subprocess.run(
        [sys.executable, str(SEED_EXAMPLE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert third.returncode == 0, third.stderr
    assert "Preparing" not in third.stderr  # nothing left to compile: nothing said

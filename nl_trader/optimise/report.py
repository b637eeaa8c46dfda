"""An optimisation's HTML report: the chosen set, the overfitting figures, the objective over each
pair of parameters (heatmaps), every trial (parallel coordinates), the top trials, and for a
walk-forward its windows and the stitched out-of-sample equity. One self-contained file (Plotly
inlined), readable offline, as the backtest report is.
"""

from __future__ import annotations

import functools
import itertools
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, Template, select_autoescape
from plotly.offline import get_plotlyjs

from nl_trader.backtest.report import chart_div
from nl_trader.files import write_whole
from nl_trader.optimise.engines import Job
from nl_trader.optimise.overfitting import Overfitting
from nl_trader.optimise.space import short_path
from nl_trader.optimise.study import StudyResult, TrialRecord
from nl_trader.optimise.walkforward import WalkForwardResult

TOP_ROWS = 50
MAX_HEATMAPS = 6


def _fmt(value: Any, spec: str = ",.2f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float) and float(value).is_integer() and spec == "g":
        return str(int(value))
    return format(value, spec)


def _ranked(result: StudyResult) -> list[TrialRecord]:
    sign = 1 if result.directions and result.directions[0] == "maximize" else -1
    return sorted(
        result.feasible,
        key=lambda t: sign * t.objectives[0] if t.objectives else -math.inf,
        reverse=True,
    )


def _heatmap(result: StudyResult, x: str, y: str) -> dict[str, Any]:
    xs = sorted({float(t.values[x]) for t in result.feasible})
    ys = sorted({float(t.values[y]) for t in result.feasible})
    better = max if not result.directions or result.directions[0] == "maximize" else min
    cells: dict[tuple[float, float], float] = {}
    for trial in result.feasible:
        if trial.objectives is None:
            continue
        key = (float(trial.values[x]), float(trial.values[y]))
        value = trial.objectives[0]
        cells[key] = better(cells[key], value) if key in cells else value
    z = [[cells.get((vx, vy)) for vx in xs] for vy in ys]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": xs,
                "y": ys,
                "z": z,
                "colorscale": "Viridis",
                "colorbar": {"title": {"text": result.objectives[0]}},
            }
        ],
        "layout": {
            "height": 360,
            "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
            "xaxis": {"title": {"text": short_path(x)}},
            "yaxis": {"title": {"text": short_path(y)}},
            "title": {"text": f"{short_path(y)} × {short_path(x)}", "font": {"size": 13}},
        },
    }


def _parallel(result: StudyResult, paths: list[str]) -> dict[str, Any]:
    rows = [t for t in result.feasible if t.objectives is not None]
    dimensions = [
        {"label": short_path(path), "values": [float(t.values[path]) for t in rows]}
        for path in paths
    ]
    objective = [t.objectives[0] for t in rows if t.objectives is not None]
    dimensions.append({"label": result.objectives[0], "values": objective})
    return {
        "data": [
            {
                "type": "parcoords",
                "line": {"color": objective, "colorscale": "Viridis", "showscale": True},
                "dimensions": dimensions,
            }
        ],
        "layout": {"height": 420, "margin": {"l": 60, "r": 40, "t": 40, "b": 30}},
    }


def _equity(walk: WalkForwardResult) -> dict[str, Any]:
    equity = walk.equity
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": [t.isoformat() for t in equity.index],
                "y": [round(float(v), 2) for v in equity.to_numpy()],
                "name": "stitched out-of-sample equity",
            }
        ],
        "layout": {"height": 320, "margin": {"l": 60, "r": 20, "t": 20, "b": 40}},
    }


def render(
    result: StudyResult,
    job: Job,
    *,
    overfitting: Overfitting | None = None,
    walk: WalkForwardResult | None = None,
) -> str:
    """The report's HTML (module docstring). For a walk-forward, ``result`` is the last window's
    study (the set trading now was chosen there)."""
    paths = list(job.space.paths)
    ranked = _ranked(result)
    best = result.best[0] if result.best else None
    index = job.bars.index
    view: dict[str, Any] = {
        "title": f"{job.spec.name}: {'walk-forward' if walk else 'optimisation'}",
        "kind": "walk-forward" if walk else "optimisation",
        "method": result.method,
        "trials": len(result.trials),
        "feasible": len(result.feasible),
        "infeasible": len(result.trials) - len(result.feasible),
        "objectives": list(result.objectives),
        "symbol": job.symbol,
        "timeframe": job.spec.timeframe,
        "period": f"{index[0]:%Y-%m-%d} → {index[-1]:%Y-%m-%d} (UTC, {len(index):,} bars)"
        if len(index)
        else "",
        "paths": [short_path(p) for p in paths],
        "best": None
        if best is None
        else {
            "set": {path: _fmt(v, "g") for path, v in best.values.items()},
            "objectives": [
                (name, _fmt(v))
                for name, v in zip(result.objectives, best.objectives or (), strict=False)
            ],
        },
        "top": [
            {
                "number": t.number,
                "cells": [_fmt(float(t.values[p]), "g") for p in paths],
                "objectives": [_fmt(v) for v in t.objectives or ()],
                "trades": _fmt(t.figures.get("total_trades"), ",.0f"),
                "pf": _fmt(t.figures.get("profit_factor")),
                "dd": _fmt(t.figures.get("equity_drawdown_pct")),
            }
            for t in ranked[:TOP_ROWS]
        ],
        "overfitting": None
        if overfitting is None
        else {
            "trials": overfitting.trials,
            "deflated_sharpe": _fmt(overfitting.deflated_sharpe),
            "pbo": _fmt(None if overfitting.pbo is None else overfitting.pbo.probability),
            "stability": _fmt(overfitting.stability.ratio),
            "sharpe": _fmt(overfitting.sharpe, ".3f"),
        },
        "walk_forward": None
        if walk is None
        else {
            "net_profit": _fmt(walk.net_profit),
            "trades": walk.trades,
            "efficiency": _fmt(walk.efficiency),
            "windows": [
                {
                    "number": w.window.number,
                    "in_sample": f"{w.in_sample[0]:%Y-%m-%d} → {w.in_sample[1]:%Y-%m-%d}",
                    "out_of_sample": f"{w.out_of_sample[0]:%Y-%m-%d} → {w.out_of_sample[1]:%Y-%m-%d}",
                    "chosen": ", ".join(
                        f"{short_path(p)}={_fmt(v, 'g')}" for p, v in (w.chosen or {}).items()
                    )
                    or "no feasible set",
                    "in_profit": _fmt(w.in_sample_figures.get("total_net_profit")),
                    "out_profit": _fmt(w.out_of_sample_figures.get("total_net_profit")),
                    "out_trades": _fmt(w.out_of_sample_figures.get("total_trades"), ",.0f"),
                }
                for w in walk.windows
            ],
        },
    }
    numeric = [p for p in paths if len({float(t.values[p]) for t in result.feasible}) > 1]
    pairs = list(itertools.combinations(numeric, 2))[:MAX_HEATMAPS]
    charts: dict[str, Any] = {
        "heatmaps": [
            chart_div(f"heat-{i}", _heatmap(result, x, y)) for i, (x, y) in enumerate(pairs)
        ]
        if result.feasible
        else [],
        "parallel": chart_div("parallel", _parallel(result, paths))
        if len(result.feasible) > 1
        else "",
        "equity": chart_div("equity", _equity(walk))
        if walk is not None and len(walk.equity)
        else "",
    }
    return _template().render(r=view, charts=charts, plotly_js=get_plotlyjs())


def write_report(
    path: Path,
    result: StudyResult,
    job: Job,
    *,
    overfitting: Overfitting | None = None,
    walk: WalkForwardResult | None = None,
) -> Path:
    """Write the report to ``path`` whole (never half-written); return its path."""
    write_whole(path, render(result, job, overfitting=overfitting, walk=walk))
    return path


@functools.cache
def _template() -> Template:
    environment = Environment(
        loader=PackageLoader("nl_trader.optimise", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    return environment.get_template("optimisation.html.j2")

"""The backtest pages: the form (bundled sample, an uploaded file or the data folder; dates,
costs, account), the job's progress, and a run's page with its figures, criteria, data warnings
and the report embedded.

An uploaded file is data only: written under a private folder beside the database (mode 700,
its name made safe and prefixed with its content's hash), never executed, read by the bar loader
as any file is. It stays there: the run records its path, and a paper session replays from it.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from nl_trader.backtest.engine import BacktestSettings
from nl_trader.data.run_data import DEFAULT_SAMPLE_BARS, SAMPLE, RunData
from nl_trader.errors import InvalidInputError
from nl_trader.lifecycle import load_criteria
from nl_trader.store import User
from nl_trader.web import views
from nl_trader.web.context import WebSettings, csrf_checked, needs, open_store, page, settings
from nl_trader.web.jobs import BacktestJob

router = APIRouter(dependencies=[Depends(csrf_checked)], include_in_schema=False)

Viewer = Annotated[User, Depends(needs("strategy.view"))]
Backtester = Annotated[User, Depends(needs("strategy.backtest"))]

SOURCES = ("sample", "upload", "folder")
ACCOUNT_MODES = ("hedging", "netting")
MAX_FOLDER_FILES = 1_000
_CHUNK = 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# The form's field for each field of a run's data and of the backtest's settings, so that every
# problem names what the person typed into.
SETTINGS_FIELDS = {
    "deposit": "deposit",
    "currency": "currency",
    "leverage": "leverage",
    "account_mode": "account_mode",
    "spread_points": "spread",
    "commission_per_lot": "commission",
    "server_timezone": "server_timezone",
}


def data_fields(source: str) -> dict[str, str]:
    """The form's field for each ``RunData`` field (the source's own field for ``source``)."""
    return {
        "source": {"upload": "upload", "folder": "folder_file"}.get(source, "source"),
        "symbol": "symbol",
        "from": "start",
        "to": "end",
        "bars": "sample_bars",
        "timezone": "timezone",
        "timeframe": "timeframe",
        "convert": "convert",
    }


DEFAULTS: dict[str, str] = {
    "source": "sample",
    "folder_file": "",
    "start": "",
    "end": "",
    "spread": "",
    "commission": "",
    "deposit": "10000",
    "currency": "USD",
    "leverage": "100",
    "account_mode": "hedging",
    "sample_bars": str(DEFAULT_SAMPLE_BARS),
    "timezone": "",
    "timeframe": "",
}


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def folder_files(data_dir: Path | None) -> list[str]:
    """The bar files under the data folder (relative paths, hidden ones left out), sorted."""
    if data_dir is None or not data_dir.is_dir():
        return []
    found = []
    for root, folders, files in os.walk(data_dir):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                found.append((Path(root) / name).relative_to(data_dir).as_posix())
            if len(found) >= MAX_FOLDER_FILES:
                return found
    return found


def _form_page(
    request: Request,
    user: User,
    strategy_id: int,
    values: dict[str, str],
    problems: list[str],
    status_code: int = 200,
) -> HTMLResponse:
    web = settings(request)
    with open_store(request) as store:
        strategy = views.strategy_summary(store, store.strategy(strategy_id))
        symbol = store.current_version(strategy_id).spec.symbols[0]
    return page(
        request,
        "backtest.html.j2",
        user=user,
        s=strategy,
        symbol=symbol,
        values=values,
        problems=problems,
        sources=SOURCES,
        account_modes=ACCOUNT_MODES,
        files=folder_files(web.data_dir),
        data_dir=web.data_dir,
        max_upload_mb=f"{web.max_upload_bytes / (1024 * 1024):g}",
        status_code=status_code,
    )


@router.get("/strategies/{strategy_id}/backtest", response_class=HTMLResponse)
def backtest_form(request: Request, strategy_id: int, user: Backtester) -> HTMLResponse:
    return _form_page(request, user, strategy_id, dict(DEFAULTS), [])


def _number(values: dict[str, str], name: str, problems: list[str], *, whole: bool = False) -> Any:
    """The field as a number (None when left blank), or a problem naming it."""
    text = values[name].strip()
    if not text:
        return None
    try:
        return int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        problems.append(f"{name}: {text!r} is not {kind}")
        return None


def parse_settings(values: dict[str, str], problems: list[str]) -> BacktestSettings | None:
    """The backtest's settings from the form's fields; each bad one a problem naming it."""
    count = len(problems)
    spread = _number(values, "spread", problems)
    commission = _number(values, "commission", problems)
    deposit = _number(values, "deposit", problems)
    leverage = _number(values, "leverage", problems, whole=True)
    if values["account_mode"] not in ACCOUNT_MODES:
        problems.append(f"account_mode: choose {' or '.join(ACCOUNT_MODES)}")
    if len(problems) > count:
        return None
    given: dict[str, Any] = {
        "currency": values["currency"].strip().upper() or "USD",
        "account_mode": values["account_mode"],
        "spread_points": spread,
        "commission_per_lot": commission,
        **({"deposit": deposit} if deposit is not None else {}),
        **({"leverage": leverage} if leverage is not None else {}),
    }
    try:
        return settings_from(given)
    except InvalidInputError as error:
        problems.extend(error.problems)
        return None


def settings_from(given: dict[str, Any]) -> BacktestSettings:
    """``BacktestSettings`` from the form's values; refused naming each form field."""
    try:
        return BacktestSettings(**given)
    except ValidationError as error:
        problems = [
            f"{SETTINGS_FIELDS.get(name, name)}: {item['msg']}"
            for item in error.errors(include_url=False)
            for name in [".".join(str(part) for part in item["loc"])]
        ]
        raise InvalidInputError(problems, what="backtest settings") from None


def _safe_name(name: str) -> str:
    base = _SAFE_NAME.sub("_", Path(name).name).lstrip("._")[-80:]
    return base or "bars.csv"


async def save_upload(upload: UploadFile, web: WebSettings) -> Path:
    """Write an uploaded file under the private upload folder, refusing it past the size limit
    or empty; return its path. Nothing is left behind when it is refused."""
    folder = web.upload_dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = folder / f".partial-{secrets.token_hex(8)}"
    digest = hashlib.sha256()
    size = 0
    limit_mb = f"{web.max_upload_bytes / (1024 * 1024):g} MB"
    try:
        with partial.open("xb") as file:
            while chunk := await upload.read(_CHUNK):
                size += len(chunk)
                if size > web.max_upload_bytes:
                    raise InvalidInputError(
                        [
                            f"upload: the file is larger than {limit_mb}, the most this server accepts"
                        ],
                        what="upload",
                    )
                digest.update(chunk)
                file.write(chunk)
        if size == 0:
            raise InvalidInputError(["upload: the file is empty"], what="upload")
        os.chmod(partial, 0o600)
        target = folder / f"{digest.hexdigest()[:16]}-{_safe_name(upload.filename or '')}"
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def folder_path(web: WebSettings, chosen: str) -> Path:
    """The data folder's file the form chose: one of those it lists, nothing outside it."""
    if web.data_dir is None:
        raise InvalidInputError(
            ["folder_file: no data folder is configured ([web] data_dir)"], what="run data"
        )
    if chosen not in folder_files(web.data_dir):
        raise InvalidInputError(
            [f"folder_file: choose one of the data folder's files ({chosen!r} is not one)"],
            what="run data",
        )
    return web.data_dir / chosen


@router.post("/strategies/{strategy_id}/backtest", response_class=HTMLResponse)
async def start_backtest(
    request: Request,
    strategy_id: int,
    user: Backtester,
    source: Annotated[str, Form()] = "sample",
    upload: UploadFile | None = None,
    folder_file: Annotated[str, Form()] = "",
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    spread: Annotated[str, Form()] = "",
    commission: Annotated[str, Form()] = "",
    deposit: Annotated[str, Form()] = DEFAULTS["deposit"],
    currency: Annotated[str, Form()] = DEFAULTS["currency"],
    leverage: Annotated[str, Form()] = DEFAULTS["leverage"],
    account_mode: Annotated[str, Form()] = DEFAULTS["account_mode"],
    sample_bars: Annotated[str, Form()] = DEFAULTS["sample_bars"],
    timezone: Annotated[str, Form()] = "",
    timeframe: Annotated[str, Form()] = "",
) -> Response:
    """Check the form, keep an upload, and start the backtest in the background."""
    values = {
        "source": source,
        "folder_file": folder_file,
        "start": start,
        "end": end,
        "spread": spread,
        "commission": commission,
        "deposit": deposit,
        "currency": currency,
        "leverage": leverage,
        "account_mode": account_mode,
        "sample_bars": sample_bars,
        "timezone": timezone,
        "timeframe": timeframe,
    }
    web = settings(request)
    problems: list[str] = []
    if source not in SOURCES:
        problems.append("source: choose the bundled sample, an upload or the data folder")
    bars = _number(values, "sample_bars", problems, whole=True) if source == SAMPLE else None
    chosen = parse_settings(values, problems)
    has_file = upload is not None and bool(upload.filename)
    if source == "upload" and not has_file:
        problems.append("upload: choose a file to upload")
    if problems or chosen is None:
        return _form_page(request, user, strategy_id, values, problems, 400)
    names = data_fields(source)
    path: Path | None = None
    try:
        with open_store(request) as store:
            symbol = store.current_version(strategy_id).spec.symbols[0]
            criteria = load_criteria(web.config, {})
        if source == "folder":
            path = folder_path(web, folder_file)
        elif source == "upload" and upload is not None:
            path = await save_upload(upload, web)
        data = RunData.of(
            SAMPLE if path is None else str(path),
            symbol,
            start=start.strip() or None,
            end=end.strip() or None,
            sample_size=bars,
            timezone=(timezone.strip() or None) if path is not None else None,
            timeframe=timeframe.strip() or None,
            names=names,
        )
    except InvalidInputError as error:
        return _form_page(request, user, strategy_id, values, list(error.problems), 400)
    label = {
        "sample": "bundled sample",
        "upload": f"upload {path.name if path else ''}",
        "folder": f"data folder {folder_file}",
    }[source]
    job = web.jobs.start(
        strategy_id,
        data,
        by=user.name,
        settings=chosen,
        criteria=criteria,
        names=names,
        source_label=label,
    )
    return _see(f"/backtests/{job.id}")


@router.get("/backtests/{job_id}", response_class=HTMLResponse)
def backtest_job(request: Request, job_id: str, user: Viewer) -> Response:
    """The job's progress (the page refreshes itself each second), then on to its run page,
    or every problem naming the form's fields."""
    job: BacktestJob = settings(request).jobs.get(job_id)
    # Done: the page says so and moves on to the run at once (a refresh, not a redirect, so
    # the browser's history keeps the job's page).
    return page(
        request,
        "backtest_job.html.j2",
        user=user,
        job=job.to_dict(),
        status_code=400 if job.status == "failed" else 200,
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int, user: Viewer) -> HTMLResponse:
    """A run: its figures, each promotion criterion, the data's warnings, the report inside."""
    with open_store(request) as store:
        view = views.run_page_view(store, run_id)
    return page(request, "run.html.j2", user=user, r=view)

"""What the command line prints from a spec, the model, a file or the database is shown as it is
stored: terminal control codes (clear screen, conceal, cursor moves, OSC sequences, C1 codes, bidi
overrides) written as visible escapes, never sent to the terminal, and rich markup in it printed
as text, never read as markup."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nl_trader.cli import app

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
MA_TEXT = (STRATEGIES / "ma_crossover.txt").read_text(encoding="utf-8").strip()
MA_SPEC: dict[str, Any] = json.loads((STRATEGIES / "ma_crossover.json").read_text("utf-8"))
runner = CliRunner()

# Clear the screen, conceal what follows, move the cursor up, retitle the window (OSC), a one-byte
# CSI (C1), a carriage return, and a right-to-left override.
HOSTILE = "\x1b[2J\x1b[8mhidden\x1b[1A\x1b]0;pwned\x07\x9b31m\rfake\u202edesrever"
# The escapes a reviewer sees instead.
SHOWN = (
    "\\x1b[2J",
    "\\x1b[8m",
    "\\x1b[1A",
    "\\x1b]0;pwned\\x07",
    "\\x9b31m",
    "\\x0dfake",
    "\\u202e",
)
MARKUP = "[bold red]not bold[/bold red] [link=https://evil.example]here[/link]"
# Control characters a terminal would act on; a line feed and a tab are only layout.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(autouse=True)
def _actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NL_TRADER_USER", "tester")


def _script(tmp_path: Path, *contents: str, model: str = "scripted-test") -> str:
    path = tmp_path / "script.json"
    replies = [{"content": content} for content in contents]
    path.write_text(json.dumps({"version": 1, "model": model, "replies": replies}))
    return f"scripted:{path}"


def _clarify(question: str) -> str:
    return json.dumps({"outcome": "clarify", "questions": [question], "missing": ["timeframe"]})


def _flat(output: str) -> str:
    """The output without the line breaks rich adds to fit its width."""
    return " ".join(output.split())


def _assert_shown_not_acted_on(output: str) -> None:
    assert RAW_CONTROL.findall(output) == []
    for escape in SHOWN:
        assert escape in _flat(output), (escape, output)


# ---- the escaping itself ------------------------------------------------------------------------
def test_every_control_character_is_written_as_its_escape() -> None:
    from nl_trader.cli.screen import screened

    assert screened("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert screened("\x00\x07\x08\r\x7f\x9b\x9d") == "\\x00\\x07\\x08\\x0d\\x7f\\x9b\\x9d"
    assert screened("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") == (
        "\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069"
    )
    # Ordinary text, Chinese included, is left alone.
    assert screened("止损 30 点, [bold]") == "止损 30 点, [bold]"


def test_a_one_line_field_cannot_add_a_line_but_a_text_keeps_its_lines() -> None:
    from nl_trader.cli.screen import screened

    assert screened("name\ngate: may go live\t!") == "name\\x0agate: may go live\\x09!"
    assert screened("line one\nline two\t!", lines=True) == "line one\nline two\t!"


def test_json_output_escapes_what_json_dumps_leaves_and_reads_back_the_same() -> None:
    from nl_trader.cli.screen import json_text

    data = {"name": "a\u202eb\x9bc\x7fd\x1be", "text": "止损"}
    text = json_text(data)
    assert RAW_CONTROL.findall(text) == []
    assert "止损" in text
    assert json.loads(text) == data


# ---- translate ----------------------------------------------------------------------------------
def test_translate_shows_control_codes_in_the_models_questions_escaped(tmp_path: Path) -> None:
    llm = _script(tmp_path, _clarify(f"Which timeframe? {HOSTILE} {MARKUP}"))
    result = runner.invoke(app, ["translate", "buy EURUSD on RSI under 30", "--llm", llm])
    assert result.exit_code == 3, result.output
    _assert_shown_not_acted_on(result.output)
    assert MARKUP in _flat(result.output)


def test_translate_shows_a_spec_name_with_control_codes_escaped(tmp_path: Path) -> None:
    # Spec validation may refuse such a name (then the error quotes the answer); either way
    # nothing of it reaches the terminal unescaped.
    spec = {**MA_SPEC, "name": f"SMA{HOSTILE}", "description": MARKUP}
    answer = json.dumps({"outcome": "spec", "spec": spec})
    llm = _script(tmp_path, answer, answer, answer)
    result = runner.invoke(app, ["translate", MA_TEXT, "--llm", llm])
    assert result.exit_code in (0, 2), result.output
    assert RAW_CONTROL.findall(result.output) == []
    assert "\\x1b[2J" in result.output or "\\u001b[2J" in result.output


def test_translate_shows_the_models_unreadable_raw_output_escaped(tmp_path: Path) -> None:
    llm = _script(tmp_path, f"not json {HOSTILE} {MARKUP}")
    result = runner.invoke(app, ["translate", MA_TEXT, "--llm", llm, "--max-attempts", "1"])
    assert result.exit_code == 2, result.output
    assert "last raw output of the model:" in result.output
    _assert_shown_not_acted_on(result.output)
    assert MARKUP in _flat(result.output)


def test_translate_json_writes_bidi_and_c1_codes_as_json_escapes(tmp_path: Path) -> None:
    question = "Which timeframe?\u202e\x9b2J"
    llm = _script(tmp_path, _clarify(question))
    result = runner.invoke(app, ["translate", "buy EURUSD", "--llm", llm, "--json"])
    assert result.exit_code == 3, result.output
    assert RAW_CONTROL.findall(result.output) == []
    assert "\\u202e" in result.output
    assert json.loads(result.output)["questions"] == [question]


def test_translate_prints_a_model_name_with_markup_as_text(tmp_path: Path) -> None:
    llm = _script(tmp_path, _clarify("Which timeframe?"), model="m[/dim][bold]x\x1b[2J")
    result = runner.invoke(app, ["translate", "buy EURUSD", "--llm", llm])
    assert result.exit_code == 3, result.output
    assert "m[/dim][bold]x\\x1b[2J, 1 attempt(s)" in result.output


# ---- new, list, show ----------------------------------------------------------------------------
def test_new_shows_the_models_questions_and_its_name_escaped(tmp_path: Path) -> None:
    db = tmp_path / "nl.db"
    llm = _script(
        tmp_path, _clarify(f"Which timeframe? {HOSTILE} {MARKUP}"), model="m[/dim][bold]x"
    )
    result = runner.invoke(app, ["new", "buy EURUSD on RSI", "--llm", llm, "--db", str(db)])
    assert result.exit_code == 3, result.output
    _assert_shown_not_acted_on(result.output)
    assert MARKUP in _flat(result.output)
    assert "m[/dim][bold]x, 1 attempt(s)" in result.output


def test_new_shows_the_problems_of_an_answer_it_gives_up_on_escaped(tmp_path: Path) -> None:
    # An unknown field is named in the problem sent back, and shown when the answers run out.
    answer = json.dumps({"outcome": "spec", "spec": MA_SPEC, f"go{HOSTILE}": True})
    llm = _script(tmp_path, answer, answer, answer)
    result = runner.invoke(app, ["new", MA_TEXT, "--llm", llm, "--db", str(tmp_path / "nl.db")])
    assert result.exit_code == 2, result.output
    assert "unknown field" in result.output
    _assert_shown_not_acted_on(result.output)


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    """A store with one strategy whose text holds control codes and markup, and whose name was
    edited behind the program to hold them too (as a record stored before names were checked)."""
    db = tmp_path / "nl.db"
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(MA_SPEC), encoding="utf-8")
    text = f"{MA_TEXT} {HOSTILE} {MARKUP}"
    result = runner.invoke(app, ["new", text, "--spec", str(spec_file), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE strategies SET name = ? WHERE id = 1", (f"SMA{HOSTILE}",))
    return db


def test_show_prints_the_stored_text_and_name_escaped(stored: Path) -> None:
    result = runner.invoke(app, ["show", "1", "--db", str(stored)])
    assert result.exit_code == 0, result.output
    _assert_shown_not_acted_on(result.output)
    assert MARKUP in _flat(result.output)
    assert "strategy 1: SMA\\x1b[2J" in result.output


def test_list_prints_a_stored_name_escaped(stored: Path) -> None:
    result = runner.invoke(app, ["list", "--db", str(stored)])
    assert result.exit_code == 0, result.output
    assert RAW_CONTROL.findall(result.output) == []
    assert "SMA\\x1b[2J" in result.output


# ---- validate, explain --------------------------------------------------------------------------
def test_explain_prints_an_error_quoting_the_option_as_text_not_markup() -> None:
    spec = str(STRATEGIES / "ma_crossover.json")
    result = runner.invoke(app, ["explain", spec, "--lang", "[bold]xx[/bold]\x1b[2J"])
    assert result.exit_code == 2, result.output
    assert "[bold]xx[/bold]" in result.output
    assert RAW_CONTROL.findall(result.output) == []


def test_a_spec_file_whose_problems_quote_control_characters_prints_them_inert(
    tmp_path: Path,
) -> None:
    path = tmp_path / "evil\x1b[2J.json"
    path.write_text('{"name": "x\\u001b[8mhidden", "symbols": 3}', encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.output
    assert "\\x1b[2J" in result.output

"""``nl-trader translate``: the explain-back and the spec, or the questions, or the refusal, with
an exit code a script can act on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from nl_trader.cli import app
from nl_trader.spec import parse_spec, spec_hash

from .conftest import MA_SPEC, MA_TEXT, spec_answer

runner = CliRunner()


def script(tmp_path: Path, *replies: dict[str, Any]) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"version": 1, "model": "scripted", "replies": list(replies)}))
    return f"scripted:{path}"


def test_a_spec_prints_the_explain_back_and_the_spec_and_exits_0(tmp_path: Path) -> None:
    llm = script(tmp_path, {"content": spec_answer()})
    result = runner.invoke(app, ["translate", MA_TEXT, "--llm", llm])
    assert result.exit_code == 0, result.output
    assert 'Strategy "SMA 20/50 crossover"' in result.output
    assert "Stop loss 30 pips from the entry." in result.output
    assert '"timeframe": "H1"' in result.output


def test_json_output_is_one_object_with_the_canonical_spec_and_its_hash(tmp_path: Path) -> None:
    llm = script(
        tmp_path, {"content": spec_answer(), "usage": {"input_tokens": 9, "output_tokens": 1}}
    )
    result = runner.invoke(app, ["translate", MA_TEXT, "--llm", llm, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["outcome"] == "spec"
    # The canonical form writes every default out; it is the same strategy, with the same hash.
    assert spec_hash(parse_spec(data["spec"])) == spec_hash(parse_spec(MA_SPEC))
    assert data["spec_hash"] == spec_hash(parse_spec(MA_SPEC))
    assert data["usage"] == {"input_tokens": 9, "output_tokens": 1, "total_tokens": 10}
    assert data["attempts"] == 1
    assert len(data["prompt_hash"]) == 64


def test_clarifying_questions_exit_3(tmp_path: Path) -> None:
    answer = {"outcome": "clarify", "questions": ["Which symbol?"], "missing": ["symbols"]}
    llm = script(tmp_path, {"content": json.dumps(answer)})
    result = runner.invoke(app, ["translate", "buy low sell high", "--llm", llm])
    assert result.exit_code == 3
    assert "- Which symbol?" in result.output
    assert "(missing: symbols)" in result.output


def test_a_refusal_exits_4_in_the_language_of_the_text(tmp_path: Path) -> None:
    answer = {"outcome": "refuse", "unsupported": ["options"], "reason": "不支持期权。"}
    llm = script(tmp_path, {"content": json.dumps(answer)})
    result = runner.invoke(app, ["translate", "买入欧元兑美元的看涨期权", "--llm", llm, "--json"])
    assert result.exit_code == 4
    data = json.loads(result.output)
    assert data["unsupported"] == ["options"]
    assert data["language"] == "zh-Hans"
    assert data["message"].startswith("无法建立这个策略：不支持 options。")


def test_no_valid_answer_exits_2_with_the_last_raw_output(tmp_path: Path) -> None:
    llm = script(tmp_path, {"content": "nope"}, {"content": "still nope"})
    result = runner.invoke(app, ["translate", MA_TEXT, "--llm", llm, "--max-attempts", "2"])
    assert result.exit_code == 2
    assert "no valid answer after 2 attempt(s)" in result.output
    assert "still nope" in result.output


def test_no_valid_answer_in_json_is_an_error_object(tmp_path: Path) -> None:
    llm = script(tmp_path, {"content": "nope"})
    result = runner.invoke(
        app, ["translate", MA_TEXT, "--llm", llm, "--json", "--max-attempts", "1"]
    )
    assert result.exit_code == 2
    data = json.loads(result.output)
    assert data["outcome"] == "error"
    assert data["attempts"] == 1
    assert data["last_raw_output"] == "nope"


def test_without_a_model_configured_it_says_how_to_choose_one() -> None:
    result = runner.invoke(app, ["translate", MA_TEXT])
    assert result.exit_code == 2
    assert "no model configured" in result.output
    assert "OPENAI_API_KEY" in result.output


def test_the_bundled_examples_script_answers_an_example() -> None:
    result = runner.invoke(app, ["translate", MA_TEXT, "--llm", "scripted:examples", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"] == "scripted-examples"


def test_brackets_in_the_text_are_printed_as_written_not_read_as_markup(tmp_path: Path) -> None:
    # The error quotes the trader's text; "[/red]" in it must neither crash nor style the output.
    text = "Buy [/red] when [bold]it dips[/bold]"
    result = runner.invoke(app, ["translate", text, "--llm", script(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "nothing left to answer 'Buy [/red] when [bold]it dips[/bold]'" in result.output

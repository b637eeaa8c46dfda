"""The scripted LLM: replays a script of answers, in-process or as an OpenAI-compatible server.

A script file (JSON)::

    {"version": 1,
     "model": "scripted",
     "replies": [
       {"match": "Buy EURUSD when ...", "content": "{\\"outcome\\": \\"spec\\", ...}",
        "usage": {"input_tokens": 1200, "output_tokens": 180}},
       {"content": "..."}
     ]}

A reply with ``match`` answers a conversation whose first user message contains that string
(when several match, the longest does); replies with the same match are consumed in order, the
first answering attempt 1, the second the ask-again attempt 2, and so on. Replies without ``match``
are consumed in order by conversations that no keyed reply matches. When nothing is left for a
conversation, the model raises ``ScriptExhaustedError`` naming its text. Optional, per reply:
``usage`` (tokens to report; none reported without it), ``status`` (an HTTP status other than 200
plays a failure: 429 a rate limit, 500 a server error), ``error`` (its message) and ``delay_s``
(answer that much later, to play a slow server). Optional, per script: ``reuse_last``: the last
reply of a match answers again once its replies are consumed (a script answering the same texts
over and over, as the bundled examples script does).

``ScriptedChatModel`` is a langchain chat model, the in-process double beside the OpenAI adapter.
``ScriptedServer`` serves the same script at ``POST /v1/chat/completions`` on localhost, the way
OpenAI does (usage included), so tests drive the real ``ChatOpenAI`` -> HTTP -> parsing path.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from nl_trader.errors import InvalidInputError, NlTraderError
from nl_trader.translate.port import ScriptedModelError
from nl_trader.translate.prompts import TEXT_MARKERS

EXAMPLES_SCRIPT = Path(__file__).resolve().parent / "scripts" / "examples.json"
"""The bundled script: the scripted model's answers to the ``strategies/`` examples."""

__all__ = [
    "Reply",
    "Script",
    "ScriptError",
    "ScriptExhaustedError",
    "ScriptPlayer",
    "ScriptedChatModel",
    "ScriptedServer",
    "examples_script",
    "write_examples_script",
]


class ScriptError(InvalidInputError):
    """A script file that cannot be played."""

    def __init__(self, problems: Sequence[str], *, path: Path | None = None) -> None:
        super().__init__(problems, what=f"script {path}" if path else "script")


class ScriptExhaustedError(NlTraderError):
    """The script has no reply left for a conversation."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Usage(_Model):
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)


class Reply(_Model):
    """One scripted answer (or failure)."""

    match: str | None = Field(default=None, min_length=1)
    content: str = ""
    usage: Usage | None = None
    status: int = Field(default=200, ge=200, le=599)
    error: str | None = None
    delay_s: float = Field(default=0.0, ge=0, le=600)


class Script(_Model):
    """A whole script: the model name it reports and its replies."""

    version: int = 1
    model: str = "scripted"
    replies: tuple[Reply, ...] = ()
    reuse_last: bool = False

    @classmethod
    def load(cls, path: Path) -> Script:
        """Read and validate a script file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise ScriptError([f"cannot read: {error.strerror}"], path=path) from None
        except json.JSONDecodeError as error:
            raise ScriptError(
                [f"not valid JSON ({error.msg} at line {error.lineno})"], path=path
            ) from None
        return cls.parse(data, path=path)

    @classmethod
    def parse(cls, data: object, *, path: Path | None = None) -> Script:
        """Validate script data (a dict as in the module docstring)."""
        try:
            script = cls.model_validate(data)
        except ValidationError as error:
            problems = [
                f"{'.'.join(str(part) for part in item['loc']) or 'script'}: {item['msg']}"
                for item in error.errors(include_url=False)
            ]
            raise ScriptError(problems, path=path) from None
        if script.version != 1:
            raise ScriptError([f"version: {script.version} is not supported (1)"], path=path)
        return script


def _fenced(message: str) -> str:
    """The trader's text inside a user turn (the whole message if it is not fenced)."""
    start, end = TEXT_MARKERS
    if start in message and end in message:
        return message.split(start, 1)[1].rsplit(end, 1)[0].strip()
    return message


def _shorten(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class ScriptPlayer:
    """Hands out a script's replies to conversations, by their first user message. Thread-safe."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._keyed: dict[str, list[Reply]] = {}
        self._unkeyed: list[Reply] = []
        self._last: dict[str, Reply] = {}
        self._lock = threading.Lock()
        for reply in script.replies:
            if reply.match is None:
                self._unkeyed.append(reply)
            else:
                self._keyed.setdefault(reply.match, []).append(reply)

    def next_reply(self, first_user_message: str) -> Reply:
        """The reply for a conversation that starts with ``first_user_message``."""
        with self._lock:
            keys = sorted(
                (key for key in self._keyed if key in first_user_message), key=len, reverse=True
            )
            # Only the longest match answers: once its replies are used, a shorter key's replies
            # (meant for another text) must not stand in for them.
            if keys and self._keyed[keys[0]]:
                reply = self._keyed[keys[0]].pop(0)
                self._last[keys[0]] = reply
                return reply
            if keys and self.script.reuse_last and keys[0] in self._last:
                return self._last[keys[0]]
            if not keys and self._unkeyed:
                return self._unkeyed.pop(0)
        which = f"the replies matching {keys[0]!r} are all used" if keys else "no reply matches it"
        raise ScriptExhaustedError(
            f"the scripted model has nothing left to answer {_shorten(_fenced(first_user_message))!r}"
            f": {which}"
        )


def first_user_text(messages: Sequence[BaseMessage]) -> str:
    """The text of the first user message of a conversation."""
    for message in messages:
        if isinstance(message, HumanMessage):
            return message.text
    return ""


class ScriptedChatModel(BaseChatModel):
    """A langchain chat model that answers from a script (see the module docstring)."""

    script: Script
    _player: ScriptPlayer = PrivateAttr()
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any, /) -> None:
        self._player = ScriptPlayer(self.script)

    @classmethod
    def from_file(cls, path: Path) -> ScriptedChatModel:
        """The model replaying the script file at ``path``."""
        return cls(script=Script.load(path))

    @classmethod
    def from_replies(
        cls, replies: Sequence[dict[str, Any]], model: str = "scripted"
    ) -> ScriptedChatModel:
        """The model replaying ``replies`` (dicts as in a script file)."""
        return cls(script=Script.parse({"version": 1, "model": model, "replies": list(replies)}))

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """Every conversation the model was asked to answer, in order."""
        return list(self._calls)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._calls.append(list(messages))
        reply = self._player.next_reply(first_user_text(messages))
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            raise ScriptedModelError(reply.status, reply.error or "scripted failure")
        usage: UsageMetadata | None = None
        if reply.usage is not None:
            usage = UsageMetadata(
                input_tokens=reply.usage.input_tokens,
                output_tokens=reply.usage.output_tokens,
                total_tokens=reply.usage.input_tokens + reply.usage.output_tokens,
            )
        message = AIMessage(
            content=reply.content,
            usage_metadata=usage,
            response_metadata={"model_name": self.script.model},
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"model_name": self.script.model},
        )


# ---- the OpenAI-compatible HTTP server -----------------------------------------------------------
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}


def _request_first_user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content)
    return ""


class ScriptedServer:
    """An OpenAI-compatible chat completions server on localhost replaying a script.

    Use as a context manager; ``base_url`` is what ``OPENAI_BASE_URL`` should be. ``requests``
    holds every request body received (the Authorization header is not kept, only whether one
    came, in ``authorized``).
    """

    def __init__(self, script: Script, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = script
        self.player = ScriptPlayer(script)
        self.requests: list[dict[str, Any]] = []
        self.authorized: list[bool] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread: threading.Thread | None = None
        self._count = 0

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> ScriptedServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # quick to stop, for fast tests
            name="scripted-llm-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        """(status, JSON body, delay in seconds) for one chat completion request."""
        if body.get("stream"):
            return 400, _error_body(400, "the scripted server does not stream"), 0.0
        try:
            reply = self.player.next_reply(_request_first_user_text(body))
        except ScriptExhaustedError as error:
            # A script that ran dry is a broken test setup: a status no client retries.
            return 400, _error_body(400, str(error)), 0.0
        if reply.status != 200:
            return (
                reply.status,
                _error_body(reply.status, reply.error or "scripted failure"),
                reply.delay_s,
            )
        with self._lock:
            self._count += 1
            number = self._count
        completion: dict[str, Any] = {
            "id": f"chatcmpl-scripted-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.script.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
        }
        if reply.usage is not None:
            completion["usage"] = {
                "prompt_tokens": reply.usage.input_tokens,
                "completion_tokens": reply.usage.output_tokens,
                "total_tokens": reply.usage.input_tokens + reply.usage.output_tokens,
            }
        return 200, completion, reply.delay_s

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: tests read ``requests`` instead

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to tell it

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    model = {"id": server.script.model, "object": "model", "owned_by": "scripted"}
                    self._send(200, {"object": "list", "data": [model]})
                else:
                    self._send(404, _error_body(404, f"no route {self.path}"))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, _error_body(404, f"no route {self.path}"))
                    return
                try:
                    body = json.loads(raw)
                    if not isinstance(body, dict):
                        raise ValueError("not an object")
                except ValueError as error:
                    self._send(400, _error_body(400, f"request body is not JSON: {error}"))
                    return
                with server._lock:
                    server.requests.append(body)
                    server.authorized.append(bool(self.headers.get("Authorization")))
                status, answer, delay_s = server._answer(body)
                if delay_s:
                    time.sleep(delay_s)
                self._send(status, answer)

        return Handler


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


# ---- the bundled script answering the strategies/ examples ---------------------------------------
def examples_script(directory: Path | None = None) -> dict[str, Any]:
    """A script answering each ``strategies/`` example text with its spec, as written there."""
    from nl_trader.strategy.examples import EXAMPLES_DIR, load_examples

    root = EXAMPLES_DIR if directory is None else directory
    index = json.loads((root / "index.json").read_text(encoding="utf-8"))
    replies = []
    for example in load_examples(root):
        written = json.loads((root / index[example.slug]["spec"]).read_text(encoding="utf-8"))
        answer = {"outcome": "spec", "spec": written}
        replies.append({"match": example.text, "content": json.dumps(answer, ensure_ascii=False)})
    return {"version": 1, "model": "scripted-examples", "reuse_last": True, "replies": replies}


def write_examples_script(path: Path = EXAMPLES_SCRIPT) -> Path:
    """Regenerate the bundled examples script from ``strategies/``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(examples_script(), ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m nl_trader.translate.scripted
    print(f"wrote {write_examples_script()}")

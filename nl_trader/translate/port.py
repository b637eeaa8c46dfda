"""The LLM port: the switch that guards every model request, how to reach a model, its errors.

``ALLOW_MODEL_REQUESTS`` is the global switch, as in pydantic-ai: when False (tests set it so) a
request to any model server other than one on localhost raises ``ModelRequestsForbiddenError``
before it leaves the machine, both when the model is made and on every request it sends.

``LLMConfig`` is how to reach an OpenAI-compatible server, from the environment:

- ``OPENAI_API_KEY``: the key (optional for a server on localhost);
- ``OPENAI_BASE_URL``: the server, e.g. ``http://localhost:11434/v1`` (default: OpenAI's);
- ``NL_TRADER_MODEL``: the model name (default ``gpt-4o-mini``);
- ``NL_TRADER_LLM_MODE``: ``auto`` (JSON Schema output, falling back to JSON mode when the server
  rejects a schema), ``json_schema`` or ``json_mode``;
- ``NL_TRADER_LLM_TIMEOUT_S``: seconds before a request times out (default 60);
- ``NL_TRADER_LLM_TEMPERATURE``: 0 to 2, default 0; ``default`` leaves it to the server.

A model is a langchain ``BaseChatModel``; ``translate.llm`` chooses one by name, and each
adapter (``openai_adapter``, ``scripted``) keeps its own specifics.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

import openai

from nl_trader.errors import InvalidInputError, NlTraderError

ALLOW_MODEL_REQUESTS = True
DEFAULT_MODEL = "gpt-4o-mini"
MAX_TEMPERATURE = 2.0  # the OpenAI API's range is 0..2
Mode = Literal["auto", "json_schema", "json_mode"]
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_TRANSIENT_STATUS = frozenset({408, 409, 425, 429})


class ModelRequestsForbiddenError(NlTraderError):
    """A request to a real model while ``ALLOW_MODEL_REQUESTS`` is False."""


class LLMConfigError(InvalidInputError):
    """The model cannot be set up as configured."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems, what="model configuration")


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine (a scripted server, a local vLLM or Ollama)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in _LOCAL_HOSTS or host.endswith(".localhost")


def check_request_allowed(url: str) -> None:
    """Raise ``ModelRequestsForbiddenError`` if ``url`` may not be asked now."""
    if not ALLOW_MODEL_REQUESTS and not is_local_url(url):
        raise ModelRequestsForbiddenError(
            f"model requests are forbidden here (ALLOW_MODEL_REQUESTS is False): refused a "
            f"request to {_origin(url)}; use the scripted model or a server on localhost"
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" if parts.hostname else url


@dataclass(frozen=True)
class LLMConfig:
    """How to reach an OpenAI-compatible model. The key never appears in a repr."""

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    mode: Mode = "auto"
    timeout_s: float = 60.0
    temperature: float | None = 0.0

    @property
    def url(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMConfig:
        """Read the configuration from the environment (see the module docstring)."""
        env = os.environ if environ is None else environ
        problems = []
        mode = env.get("NL_TRADER_LLM_MODE", "auto").strip() or "auto"
        if mode not in ("auto", "json_schema", "json_mode"):
            problems.append(
                f"NL_TRADER_LLM_MODE: {mode!r} is not one of auto, json_schema, json_mode"
            )
        timeout_s = 60.0
        raw_timeout = env.get("NL_TRADER_LLM_TIMEOUT_S", "").strip()
        if raw_timeout:
            try:
                timeout_s = float(raw_timeout)
                if not timeout_s > 0:
                    raise ValueError
            except ValueError:
                problems.append(
                    f"NL_TRADER_LLM_TIMEOUT_S: {raw_timeout!r} is not a positive number of seconds"
                )
        temperature: float | None = 0.0
        raw_temperature = env.get("NL_TRADER_LLM_TEMPERATURE", "").strip()
        if raw_temperature == "default":
            temperature = None
        elif raw_temperature:
            try:
                temperature = float(raw_temperature)
                if not 0 <= temperature <= MAX_TEMPERATURE:  # NaN fails too
                    raise ValueError
            except ValueError:
                problems.append(
                    f"NL_TRADER_LLM_TEMPERATURE: {raw_temperature!r} is not a number from 0 to "
                    f"{MAX_TEMPERATURE:g} or 'default'"
                )
        base_url = env.get("OPENAI_BASE_URL", "").strip() or None
        if base_url is not None:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                # Not echoed: a malformed URL may still hold a user and password.
                problems.append(
                    "OPENAI_BASE_URL: not an http(s) URL naming a server (e.g. "
                    "http://localhost:11434/v1 or https://api.openai.com/v1)"
                )
        api_key = env.get("OPENAI_API_KEY", "").strip() or None
        if api_key is None and not (base_url and is_local_url(base_url)):
            problems.append(
                "OPENAI_API_KEY: not set; set it (and OPENAI_BASE_URL for a server other than "
                "OpenAI's, NL_TRADER_MODEL for the model), or use --llm scripted:FILE"
            )
        if problems:
            raise LLMConfigError(problems)
        return cls(
            model=env.get("NL_TRADER_MODEL", "").strip() or DEFAULT_MODEL,
            base_url=base_url,
            api_key=api_key,
            mode=mode,  # type: ignore[arg-type]
            timeout_s=timeout_s,
            temperature=temperature,
        )


# ---- failures of the model call -----------------------------------------------------------------
class ScriptedModelError(NlTraderError):
    """An HTTP-like failure played by the in-process scripted model (e.g. status 429)."""

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code = status_code
        super().__init__(f"scripted model error {status_code}: {message}")


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the chain of errors behind it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(error: BaseException) -> bool:
    """Whether trying again later may succeed: timeouts, rate limits, server errors, lost links."""
    if any(isinstance(item, ModelRequestsForbiddenError) for item in causes(error)):
        return False
    if isinstance(error, openai.RateLimitError) and getattr(error, "code", None) == (
        "insufficient_quota"
    ):
        return False  # out of credit: waiting does not help
    if isinstance(error, openai.APITimeoutError | openai.APIConnectionError):
        return True
    if isinstance(error, TimeoutError | ConnectionError):
        return True
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and (status in _TRANSIENT_STATUS or status >= 500)


_KEY_LIKE = re.compile(r"\b(sk|key|api)[-_][A-Za-z0-9_\-]{8,}")
# Any run of this many characters of a secret is redacted, wherever it stands: a server that echoes
# the key in pieces, or a cut through it, must not show most of it.
MIN_SECRET_FRAGMENT = 8
_ERROR_CHARS = 500
_SECRET_ENVIRONMENT = ("OPENAI_API_KEY", "LANGCHAIN_API_KEY", "LANGSMITH_API_KEY")


def _without_fragments(text: str, secret: str) -> str:
    if len(secret) < MIN_SECRET_FRAGMENT:
        return text.replace(secret, "***")
    pieces = {
        secret[i : i + MIN_SECRET_FRAGMENT] for i in range(len(secret) - MIN_SECRET_FRAGMENT + 1)
    }
    out: list[str] = []
    start = index = 0
    while index <= len(text) - MIN_SECRET_FRAGMENT:
        if text[index : index + MIN_SECRET_FRAGMENT] not in pieces:
            index += 1
            continue
        end = index + MIN_SECRET_FRAGMENT
        while end < len(text) and text[index : end + 1] in secret:
            end += 1
        out += [text[start:index], "***"]
        start = index = end
    out.append(text[start:])
    return "".join(out)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the given secrets, nor any run of ``MIN_SECRET_FRAGMENT`` or more of their
    characters, nor anything shaped like an API key."""
    for secret in sorted({secret for secret in secrets if secret}, key=len, reverse=True):
        text = _without_fragments(text, secret)
    return _KEY_LIKE.sub(lambda match: f"{match.group(1)}-***", text)


def _url_password(url: str | None) -> str | None:
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


def known_secrets(llm: object = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The secrets an error message must not show: the keys in the environment, the password of
    a base URL, and the key and base URL's password of ``llm`` (a model made with a key of its
    own, not from the environment)."""
    env = os.environ if environ is None else environ
    found = [env.get(name, "").strip() for name in _SECRET_ENVIRONMENT]
    found.append(_url_password(env.get("OPENAI_BASE_URL")) or "")
    key = getattr(llm, "openai_api_key", None)
    reveal = getattr(key, "get_secret_value", None)
    found.append(str(reveal()) if callable(reveal) else "")
    base = getattr(llm, "openai_api_base", None)
    found.append(_url_password(base if isinstance(base, str) else None) or "")
    return [secret for secret in found if secret]


def describe_model_error(error: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """One line saying how a model call failed, without secrets (``known_secrets()`` and
    ``secrets``): redacted first, then cut to 500 characters."""
    status = getattr(error, "status_code", None)
    if isinstance(error, openai.APITimeoutError | TimeoutError):
        text = "timed out"
    elif isinstance(error, openai.APIConnectionError):
        text = f"cannot reach the model server ({error.__cause__ or error})"
    elif isinstance(error, openai.APIStatusError) or isinstance(status, int):
        kind = {429: "rate limited", 408: "request timeout"}.get(
            status or 0, "server error" if (status or 0) >= 500 else "refused"
        )
        body = getattr(error, "body", None)
        message = (body.get("message") if isinstance(body, dict) else None) or (
            getattr(error, "message", None) or str(error)
        )
        text = f"{kind} (HTTP {status}): {message}"
    else:
        text = f"{type(error).__name__}: {error}"
    # Redact, then cut: a cut first can split a secret so that no whole one is left to find.
    return redact(" ".join(text.split()), [*known_secrets(), *secrets])[:_ERROR_CHARS]

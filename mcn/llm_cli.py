"""``mcn llm``: a local model behind an OpenAI-compatible endpoint, for the ``openai`` detector backend.

``mcn llm serve`` binds 127.0.0.1:8731 unless told otherwise and prints the ``base_url`` to give the detector
(``MCN_LLM_BASE_URL``) and the model name (``MCN_LLM_MODEL``). It needs the ``llm-server`` extra.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from pydantic import SecretStr

from mcn.terminal import console, fail, out

llm_app = typer.Typer(
    help="A local LLM behind an OpenAI-compatible endpoint (offline, for the openai detector backend).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@llm_app.callback()
def _group() -> None:
    """A local LLM behind an OpenAI-compatible endpoint (offline, for the openai detector backend)."""


@llm_app.command("serve")
def serve(
    model: Annotated[
        str, typer.Option(help="A known model name (gemma3-270m, shipped by a PyPI package) or a .gguf file.")
    ] = "gemma3-270m",
    host: Annotated[str, typer.Option(help="Interface to bind; loopback unless you mean otherwise.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port (printed).")] = 8731,
    context: Annotated[int, typer.Option(min=256, max=131072, help="Context window in tokens.")] = 4096,
    max_tokens: Annotated[int, typer.Option(min=1, help="Cap on every answer's length in tokens.")] = 1024,
    threads: Annotated[int, typer.Option(min=0, max=256, help="CPU threads; 0: one per two cores.")] = 0,
) -> None:
    """Serve a local model at http://HOST:PORT/v1 (chat completions, models, health) until Ctrl-C.

    Set MCN_LLM_SERVER_API_KEY to require that key as a Bearer token (worth it only off loopback).
    """
    from mcn.llm_server import LLMServerError, LLMServerOptions, LocalLLMServer, is_loopback, serve_until_stopped

    key = os.environ.get("MCN_LLM_SERVER_API_KEY") or None
    try:
        options = LLMServerOptions(
            model=model,
            host=host,
            port=port,
            context=context,
            max_tokens=max_tokens,
            threads=threads,
            api_key=SecretStr(key) if key else None,
        ).validate()
    except ValueError as exc:
        raise fail(f"llm serve: {exc}") from None
    if not is_loopback(host):
        console.print(f"[yellow]warning:[/yellow] binding {host}: the model server is reachable from other machines")

    def ready(server: LocalLLMServer) -> None:
        # One line on stdout that scripts and tests read; the rest goes to stderr.
        out.print(f"llm server ready: base_url={server.base_url} model={server.model_name}", highlight=False)
        console.print(
            f"  loaded {server.model.path} in {server.load_seconds:.1f} s; "
            f"MCN_LLM_BASE_URL={server.base_url} MCN_LLM_MODEL={server.model_name} MCN_DETECTOR=openai",
            highlight=False,
            soft_wrap=True,
        )

    try:
        serve_until_stopped(options, ready)
    except LLMServerError as exc:
        raise fail(str(exc)) from None

"""The terminals every ``mcn`` command writes to: results on stdout, progress and errors on stderr.

Expected failures end a command through :func:`fail`: one line, ``error: <subject>: <problem>``, and an exit code.
"""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(stderr=True)  # progress bars, status lines and errors
out = Console()  # tables and results


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; return the ``typer.Exit`` to raise (``raise fail(...) from None``)."""
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)

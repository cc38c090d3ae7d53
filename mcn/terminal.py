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


def parse_size(size: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` (a ``--size`` option) as two ints; anything else ends the command with exit code 2."""
    try:
        width, height = (int(part) for part in size.lower().split("x"))
    except ValueError:
        raise fail(f"--size must be WIDTHxHEIGHT (got {size!r})", 2) from None
    return width, height

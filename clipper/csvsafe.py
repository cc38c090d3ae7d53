"""CSV cells that a spreadsheet will not run: every CSV mcn writes goes through :func:`writer`.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel, LibreOffice
and Google Sheets (``=HYPERLINK(...)``, DDE payloads such as ``=cmd|'/c calc'!A1``), even in a ``.csv`` file.
Following the OWASP guidance on CSV injection, such a text cell is written with a leading single quote, which the
spreadsheet shows as plain text; :func:`restore` removes that quote again when mcn reads its own files back.
Numbers are written as they are (a negative number is not a formula).

This lives in ``clipper`` because the clip factory must not import ``mcn``; ``mcn`` and the other packages use it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would evaluate; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return _QUOTE + value
    return value


def restore(text: str) -> str:
    """Undo :func:`neutralise` on a cell read back (``'=x`` -> ``=x``); other text is returned unchanged."""
    if text.startswith(_QUOTE) and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


class SafeWriter:
    """A ``csv.writer`` whose rows are neutralised cell by cell (same ``writerow``/``writerows`` interface)."""

    def __init__(self, handle: IO[str], **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(handle: IO[str], **options: Any) -> SafeWriter:
    """A CSV writer on ``handle`` (options as for ``csv.writer``) that neutralises formula-like text cells."""
    return SafeWriter(handle, **options)

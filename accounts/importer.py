"""Bulk account import from a CSV file (``mcn accounts import``).

The header must be exactly ``platform,handle,display_name,niches,daily_cap,windows,timezone,author_id,approval``.
Cells:

=================  ==========================================================================================
``platform``       an adapter name (sandbox, douyin, kuaishou, xiaohongshu, tiktok, youtube, outbox)
``handle``         the account's handle on the platform (a leading ``@`` is dropped)
``display_name``   free text (Chinese is fine)
``niches``         tags separated by ``|`` or ``;`` (``beauty|skincare``); may be empty
``daily_cap``      1..50, empty: 10
``windows``        local posting windows separated by ``;`` (``09:00-12:00;19:00-23:30``); empty: the defaults
``timezone``       IANA name (``Asia/Shanghai``); empty: Asia/Shanghai
``author_id``      the affiliate (buyin) author id; may be empty
``approval``       yes/no, true/false, 1/0 (是/否); empty: no
``token``          optional last column: an API token, encrypted on arrival (as ``set-token``); empty: none
=================  ==========================================================================================

The file is read as UTF-8 with or without a BOM (Excel's "CSV UTF-8"). Each bad row is reported by its line
number with a one-line reason and skipped; good rows are created or, when the platform already has the handle,
updated (status, secrets and persona are kept). A handle repeated within the file is a bad row after the first,
and so is a cell with a control character (a NUL byte cannot be stored on Postgres; checked before anything is
written, so the good rows still go in on either database). Tokens are stored after their accounts, encrypted by
the vault; they are never echoed, not even in a row's error message.

:func:`read_token_csv` reads the ``handle,token`` (or ``platform,handle,token``) files of ``set-token --file``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from accounts.errors import AccountError

if TYPE_CHECKING:  # the registry (SQLModel, the adapters) loads only once a row is validated or stored, so a
    # missing file or a wrong header is refused in a fraction of a second
    from accounts.registry import Account, AccountSpec

IMPORT_COLUMNS = (
    "platform",
    "handle",
    "display_name",
    "niches",
    "daily_cap",
    "windows",
    "timezone",
    "author_id",
    "approval",
)
TOKEN_COLUMN = "token"
TOKEN_FILE_COLUMNS = (("handle", "token"), ("platform", "handle", "token"))
NICHE_SEPARATORS = re.compile(r"[|;]")
_YES = {"yes", "y", "true", "1", "是"}
_NO = {"no", "n", "false", "0", "否", ""}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A CSV row that was not imported: its line number in the file and a one-line reason."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class AccountRow:
    """A good CSV row: its line, the account it describes and its API token (``None``: the row brings none)."""

    line: int
    spec: AccountSpec
    token: str | None = None

    def __repr__(self) -> str:  # never the token
        return f"AccountRow(line={self.line}, spec={self.spec!r}, token={'***' if self.token else None})"


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A row of a ``set-token --file`` CSV (``platform`` is ``None`` when the file has no such column)."""

    line: int
    platform: str | None
    handle: str
    token: str

    def __repr__(self) -> str:  # never the token
        return f"TokenRow(line={self.line}, platform={self.platform!r}, handle={self.handle!r}, token='***')"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: accounts created and updated (in file order), the rows it skipped, tokens stored."""

    created: tuple[Account, ...]
    updated: tuple[Account, ...]
    problems: tuple[RowProblem, ...]
    tokens: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_bool(text: str) -> bool:
    """yes/no, true/false, 1/0, y/n, 是/否 (any case; empty is no)."""
    value = text.strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise AccountError(f"approval {text.strip()!r} must be yes/no, true/false or 1/0")


def spec_from_row(cells: dict[str, str]) -> AccountSpec:
    """One CSV row (column -> cell) as a validated :class:`AccountSpec`; :class:`AccountError` says what is wrong."""
    from accounts.registry import DEFAULT_DAILY_CAP, DEFAULT_TIMEZONE, AccountSpec

    cap_text = cells["daily_cap"].strip()
    try:
        daily_cap = int(cap_text) if cap_text else DEFAULT_DAILY_CAP
    except ValueError:
        raise AccountError(f"daily cap {cap_text!r} is not a whole number") from None
    spec = AccountSpec(
        platform=cells["platform"],
        handle=cells["handle"],
        display_name=cells["display_name"],
        niches=tuple(NICHE_SEPARATORS.split(cells["niches"])),
        daily_cap=daily_cap,
        windows=tuple(part for part in cells["windows"].split(";") if part.strip()),
        timezone=cells["timezone"].strip() or DEFAULT_TIMEZONE,
        author_id=cells["author_id"],
    ).validated()
    # checked last so problems are reported in column order
    return replace(spec, approval_required=parse_bool(cells["approval"]))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, IsADirectoryError):
        raise AccountError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise AccountError(f"{path}: not UTF-8 text; save it as 'CSV UTF-8' (Excel) and try again") from None


def read_accounts_csv(path: Path) -> tuple[list[AccountRow], list[RowProblem]]:
    """Parse and validate every row: ``([row], [problem])``. A missing file, a file that is not UTF-8 or a wrong
    header raises :class:`AccountError` (nothing can be imported then). The header is
    :data:`IMPORT_COLUMNS`, optionally followed by ``token``."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise AccountError(f"{path}: the file is empty; the first line must be {','.join(IMPORT_COLUMNS)}") from None
    columns = tuple(header)
    if columns not in (IMPORT_COLUMNS, (*IMPORT_COLUMNS, TOKEN_COLUMN)):
        raise AccountError(
            f"{path}: the header must be exactly {','.join(IMPORT_COLUMNS)} (optionally ,{TOKEN_COLUMN}) "
            f"(got {','.join(header)[:200]})"
        )
    good: list[AccountRow] = []
    problems: list[RowProblem] = []
    seen: dict[tuple[str, str], int] = {}
    while True:
        line = reader.line_num + 1  # where this record starts (a quoted cell may span lines)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(RowProblem(line, f"unreadable CSV ({exc})"))
            break
        if not any(cell.strip() for cell in row):
            continue  # blank lines (Excel adds some at the end)
        if len(row) != len(columns):
            problems.append(RowProblem(line, f"expected {len(columns)} columns, got {len(row)}"))
            continue
        cells = dict(zip(columns, row, strict=True))
        token = cells.pop(TOKEN_COLUMN, "").strip() or None
        if token is not None and (any(ch.isspace() or ord(ch) < 32 for ch in token) or len(token) > 4096):
            problems.append(RowProblem(line, "the token has spaces or control characters (not shown)"))
            continue
        try:
            spec = spec_from_row(cells)
        except AccountError as exc:
            problems.append(RowProblem(line, str(exc)))
            continue
        key = (spec.platform, spec.handle)
        if key in seen:
            problems.append(RowProblem(line, f"{spec.platform}/{spec.handle} already appears on line {seen[key]}"))
            continue
        seen[key] = line
        good.append(AccountRow(line, spec, token))
    return good, problems


def import_rows(rows: list[AccountRow], problems: list[RowProblem]) -> ImportResult:
    """Store parsed rows: the accounts in one transaction, then each row's token encrypted (``api_token``; the
    account becomes active as with ``set-token``)."""
    from accounts.login import store_token
    from accounts.registry import upsert_accounts

    stored = upsert_accounts([row.spec for row in rows]) if rows else []
    tokens = 0
    for row, (account, _) in zip(rows, stored, strict=True):
        if row.token is not None:
            store_token(account.id, "api_token", row.token)
            tokens += 1
    return ImportResult(
        created=tuple(account for account, created in stored if created),
        updated=tuple(account for account, created in stored if not created),
        problems=tuple(problems),
        tokens=tokens,
    )


def import_accounts(path: Path) -> ImportResult:
    """Import ``path`` (see the module docstring): good rows are stored in one transaction, bad rows reported."""
    good, problems = read_accounts_csv(path)
    return import_rows(good, problems)


def read_token_csv(path: Path) -> list[TokenRow]:
    """The rows of a ``handle,token`` or ``platform,handle,token`` CSV. Any bad row (a missing cell, a token with
    spaces) raises :class:`AccountError` naming its line, never its token: tokens are stored all or none."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
    try:
        columns = tuple(cell.strip() for cell in next(reader))
    except StopIteration:
        raise AccountError(f"{path}: the file is empty; the first line must be handle,token") from None
    if columns not in TOKEN_FILE_COLUMNS:
        raise AccountError(f"{path}: the header must be handle,token or platform,handle,token")
    rows: list[TokenRow] = []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            raise AccountError(f"{path}: line {line}: expected {len(columns)} columns, got {len(record)}")
        cells = {name: cell.strip() for name, cell in zip(columns, record, strict=True)}
        token = cells["token"]
        if not cells["handle"] or not token:
            raise AccountError(f"{path}: line {line}: the handle and the token must not be empty")
        if any(ch.isspace() or ord(ch) < 32 for ch in token):
            raise AccountError(f"{path}: line {line}: the token has spaces or control characters (not shown)")
        rows.append(TokenRow(line, cells.get("platform") or None, cells["handle"].removeprefix("@"), token))
    if not rows:
        raise AccountError(f"{path}: no rows below the header")
    return rows

"""``mcn accounts``: register, import, log in, check, pause and resume the creator accounts mcn posts with.

Expected errors print one line (``error: <subject>: <problem>``) and exit 2 when the input was refused before
anything was done (a bad option, a missing file, an unreadable CSV) or 1 when the work failed (see README, exit
codes). Secrets are never printed and never taken from the command line (``set-token`` reads a hidden prompt,
stdin or a CSV file, so tokens stay out of shell history and ``ps``). The registry, the vault and Playwright are
imported inside the commands, so ``mcn accounts --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from accounts.errors import AccountError
from accounts.windows import DEFAULT_WINDOWS
from mcn.terminal import console, fail, out

if TYPE_CHECKING:
    from accounts.registry import Account

# The defaults the options show; equal to those of accounts.registry, accounts.login and accounts.vault
# (tests/test_cli_accounts.py checks), copied so that building the command line imports none of them.
ACCOUNT_STATUSES = ("active", "needs_login", "paused", "banned")
DEFAULT_DAILY_CAP = 10
MAX_DAILY_CAP = 50
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_LOGIN_TIMEOUT_S = 300.0
SECRET_KINDS = ("session", "api_token", "oauth")

accounts_app = typer.Typer(
    help="Creator accounts: import, add, list, log in, check sessions, pause, resume.", no_args_is_help=True
)
_RELATIVE = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _say(message: str) -> None:
    out.print(message, highlight=False, soft_wrap=True, markup=False)


def _status_text(account: Account) -> str:
    text = account.status
    if account.status_reason:
        text += f" ({account.status_reason})"
    if account.paused_until is not None:
        local = account.paused_until.astimezone(account.zone)
        text += f" until {local:%Y-%m-%d %H:%M}"
    return text


@accounts_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV file, UTF-8 (a BOM from Excel is fine).")],
) -> None:
    """Create or update accounts from a CSV whose header is exactly
    platform,handle,display_name,niches,daily_cap,windows,timezone,author_id,approval (optionally ,token).

    niches: tags separated by | or ; (beauty|skincare). windows: local HH:MM-HH:MM separated by ;
    (09:00-12:00;19:00-23:30; a window may not cross midnight). daily_cap: 1..50 (empty: 10). timezone: IANA name
    (empty: Asia/Shanghai). approval: yes/no, true/false, 1/0. token: an API token, encrypted on arrival as
    `set-token` does (empty: none). A handle already registered on the platform is updated, not duplicated.
    A missing file or a wrong header exits 2 with nothing imported; bad rows are reported by line number and
    skipped, and the exit code is then 1.
    """
    from accounts.importer import import_rows, read_accounts_csv

    try:
        rows, problems = read_accounts_csv(file)
    except AccountError as exc:
        raise fail(str(exc), 2) from None
    try:
        result = import_rows(rows, problems)
    except AccountError as exc:
        raise fail(str(exc)) from None
    for problem in result.problems:
        console.print(f"[red]error:[/red] {file}: {problem}", highlight=False, soft_wrap=True)
    _say(
        f"imported {len(result.created) + len(result.updated)} accounts from {file} "
        f"({len(result.created)} new, {len(result.updated)} updated, {len(result.problems)} bad rows skipped"
        + (f", {result.tokens} tokens stored encrypted)" if result.tokens else ")")
    )
    if result.problems:
        raise typer.Exit(1)


@accounts_app.command("add")
def add_command(
    platform: Annotated[str, typer.Argument(help="sandbox, douyin, kuaishou, xiaohongshu, tiktok, youtube, outbox")],
    handle: Annotated[str, typer.Argument(help="The account's handle on the platform.")],
    display_name: Annotated[str, typer.Option(help="Name shown on the platform.")] = "",
    niche: Annotated[list[str] | None, typer.Option(help="Niche tag (repeatable), e.g. --niche beauty.")] = None,
    daily_cap: Annotated[
        int, typer.Option(min=1, max=MAX_DAILY_CAP, help="Most posts per local day.")
    ] = DEFAULT_DAILY_CAP,
    window: Annotated[
        list[str] | None,
        typer.Option(help=f"Local posting window HH:MM-HH:MM (repeatable); default {' and '.join(DEFAULT_WINDOWS)}."),
    ] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone of the windows.")] = DEFAULT_TIMEZONE,
    author_id: Annotated[str | None, typer.Option(help="Affiliate (buyin) author id: joins orders to posts.")] = None,
    approval: Annotated[bool, typer.Option("--approval/--no-approval", help="Posts wait for a reviewer.")] = False,
    persona: Annotated[str, typer.Option(help="Who the account speaks as (guides titles and hooks).")] = "",
) -> None:
    """Register one account (needs_login until `mcn accounts login` or `set-token`)."""
    from accounts.registry import AccountSpec, add_account

    spec = AccountSpec(
        platform=platform,
        handle=handle,
        display_name=display_name,
        persona=persona,
        niches=tuple(niche or ()),
        daily_cap=daily_cap,
        windows=tuple(window or ()),
        timezone=timezone,
        author_id=author_id,
        approval_required=approval,
    )
    try:
        spec = spec.validated()
    except AccountError as exc:  # a bad option value: a usage error
        raise fail(str(exc), 2) from None
    try:
        account = add_account(spec)
    except AccountError as exc:
        raise fail(str(exc)) from None
    _say(f"added {account.label}: status {_status_text(account)}, windows {' '.join(account.windows)}")


@accounts_app.command("list")
def list_command(
    platform: Annotated[str | None, typer.Option(help="Only this platform's accounts.")] = None,
    status: Annotated[str | None, typer.Option(help=f"Only this status: {', '.join(ACCOUNT_STATUSES)}.")] = None,
) -> None:
    """Accounts with their status, niches, cap, windows and today's posts (in each account's own time zone)."""
    from rich.table import Table

    from accounts.registry import list_accounts, posts_today

    try:
        accounts = list_accounts(platform=platform, status=status)
    except AccountError as exc:
        raise fail(str(exc)) from None
    today = posts_today([a.id for a in accounts], datetime.now(UTC))
    table = Table(title=f"{len(accounts)} accounts", title_justify="left")
    for column in ("id", "platform", "handle", "name", "status", "niches", "cap", "windows", "posted today", "queued"):
        table.add_column(column, justify="right" if column in ("id", "cap", "posted today", "queued") else "left")
    for account in accounts:
        counts = today.get(account.id)
        table.add_row(
            str(account.id),
            account.platform,
            account.handle,
            account.display_name,
            _status_text(account),
            ", ".join(account.niches),
            str(account.daily_cap),
            f"{' '.join(account.windows)} {account.timezone}",
            f"{counts.posted if counts else 0}/{account.daily_cap}",
            str(counts.pending if counts else 0),
        )
    out.print(table)
    if not accounts:
        why = "none match these filters" if platform or status else "none registered yet"
        _say(f"no accounts: {why} (mcn accounts add or mcn accounts import)")


@accounts_app.command("login")
def login_command(
    account_id: Annotated[int, typer.Argument(help="Account id (see `mcn accounts list`).")],
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the login.")] = DEFAULT_LOGIN_TIMEOUT_S,
    headless: Annotated[bool, typer.Option(help="No browser window (tests and automation only).")] = False,
) -> None:
    """Open a browser at the platform's login page, wait for you to log in, store the session encrypted."""
    from accounts.login import login_account
    from accounts.registry import get_account

    try:
        account = get_account(account_id)
        if not headless:
            _say(f"log in as {account.handle} in the browser window (waiting up to {timeout:g} s)")
        result = login_account(account_id, timeout_s=timeout, headless=headless)
    except AccountError as exc:
        raise fail(str(exc)) from None
    _say(
        f"logged in {result.account.label}: stored {', '.join(result.kinds)} (encrypted); "
        f"status {_status_text(result.account)}"
    )


@accounts_app.command("check")
def check_command(
    account_ids: Annotated[list[int] | None, typer.Argument(help="Account ids; default: every account.")] = None,
) -> None:
    """Ask each platform whether the stored logins still work; expired ones become needs_login."""
    from rich.table import Table

    from accounts.login import check_accounts

    try:
        results = check_accounts(account_ids or None)
    except AccountError as exc:
        raise fail(str(exc)) from None
    table = Table(title="session check", title_justify="left")
    for column in ("id", "account", "result", "status", "detail"):
        table.add_column(column)
    colours = {"valid": "green", "expired": "red", "never logged in": "yellow", "error": "red"}
    for result in results:
        colour = colours.get(result.outcome, "white")
        table.add_row(
            str(result.account.id),
            f"{result.account.platform}/{result.account.handle}",
            f"[{colour}]{result.outcome}[/{colour}]",
            _status_text(result.account),
            result.detail,
        )
    out.print(table)
    if any(result.outcome == "error" for result in results):
        raise typer.Exit(1)


def parse_until(text: str, account: Account, now: datetime) -> datetime:
    """``30m``/``2h``/``3d`` from now, or a date/time (ISO; without an offset it is the account's local time)."""
    relative = _RELATIVE.match(text.strip().lower())
    if relative:
        return now + timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AccountError(f"--until {text!r}: use 2h, 3d or a local time like '2026-05-01 08:00'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=account.zone)
    if moment <= now:
        raise AccountError(f"--until {text!r} is in the past")
    return moment.astimezone(UTC)


@accounts_app.command("pause")
def pause_command(
    account_id: Annotated[int, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why (shown in `list`).")] = "paused by operator",
    until: Annotated[
        str | None, typer.Option(help="Resume automatically: 2h, 3d, or a local time '2026-05-01 08:00'.")
    ] = None,
) -> None:
    """Stop posting on an account, until --until or until `resume`."""
    from accounts.registry import get_account, pause_account

    try:
        account = get_account(account_id)
    except AccountError as exc:
        raise fail(str(exc)) from None
    try:
        until_at = parse_until(until, account, datetime.now(UTC)) if until else None
    except AccountError as exc:  # a bad --until: a usage error
        raise fail(str(exc), 2) from None
    try:
        account = pause_account(account_id, reason, until_at)
    except AccountError as exc:
        raise fail(str(exc)) from None
    _say(f"{account.label}: {_status_text(account)}")


@accounts_app.command("resume")
def resume_command(account_id: Annotated[int, typer.Argument()]) -> None:
    """Make a paused (or banned) account active again."""
    from accounts.registry import set_status

    try:
        account = set_status(account_id, "active")
    except AccountError as exc:
        raise fail(str(exc)) from None
    _say(f"{account.label}: {_status_text(account)}")


@accounts_app.command("ban")
def ban_command(
    account_id: Annotated[int, typer.Argument()],
    reason: Annotated[str, typer.Option(help="What the platform said.")] = "banned by the platform",
) -> None:
    """Record that the platform banned the account: nothing is posted on it any more."""
    from accounts.registry import set_status

    try:
        account = set_status(account_id, "banned", reason)
    except AccountError as exc:
        raise fail(str(exc)) from None
    _say(f"{account.label}: {_status_text(account)}")


def _read_secret(kind: str) -> str:
    if sys.stdin.isatty():
        return str(typer.prompt(f"{kind} (input hidden)", hide_input=True))
    return sys.stdin.read()


@accounts_app.command("set-token")
def set_token_command(
    account_ids: Annotated[
        list[int] | None, typer.Argument(help="Account id (one token from the prompt or stdin); or use --file.")
    ] = None,
    kind: Annotated[str, typer.Option(help=f"Secret kind: {', '.join(SECRET_KINDS)} (oauth/session as JSON).")] = (
        "api_token"
    ),
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="CSV with the header handle,token or platform,handle,token: one account per row (many at once).",
        ),
    ] = None,
) -> None:
    """Store a token for an API platform, read from a hidden prompt or stdin (never from the command line); with
    --file, a token per account from a CSV of handle,token."""
    if kind not in SECRET_KINDS:
        raise fail(f"--kind {kind!r} is unknown; use one of {', '.join(SECRET_KINDS)}", 2)
    if file is not None:
        if account_ids:
            raise fail("give account ids or --file, not both", 2)
        _set_tokens_from_file(file, kind)
        return
    if not account_ids or len(account_ids) > 1:
        raise fail("give one account id (its token comes from the prompt or stdin), or --file for many", 2)
    account_id = account_ids[0]
    text = _read_secret(kind).strip()
    if not text:
        raise fail(f"account {account_id}: no {kind} given on stdin", 2)
    from accounts.login import store_token

    try:
        account = store_token(account_id, kind, _secret_value(account_id, kind, text))
    except AccountError as exc:
        raise fail(str(exc)) from None
    _say(f"{account.label}: stored {kind} (encrypted); status {_status_text(account)}")


def _secret_value(subject: Any, kind: str, text: str) -> Any:
    if kind == "api_token":
        return text
    try:
        return json.loads(text)
    except ValueError:
        # never echo the input: it is the secret
        raise fail(f"account {subject}: the {kind} must be JSON", 2) from None


def _set_tokens_from_file(file: Path, kind: str) -> None:
    """Every row's token, encrypted, on the account its handle names; every handle is resolved before anything is
    stored, so a file with an unknown or ambiguous handle stores nothing."""
    from accounts.importer import read_token_csv
    from accounts.login import store_token
    from accounts.registry import list_accounts

    try:
        rows = read_token_csv(file)
    except AccountError as exc:
        raise fail(str(exc), 2) from None
    by_handle: dict[str, list[Account]] = {}
    for account in list_accounts():
        by_handle.setdefault(account.handle.lower(), []).append(account)
    chosen: list[tuple[Account, str]] = []
    for row in rows:
        found = [a for a in by_handle.get(row.handle.lower(), []) if row.platform in (None, a.platform)]
        if len(found) != 1:
            where = f" on {row.platform}" if row.platform else ""
            problem = "no account" if not found else "several accounts (add a platform column)"
            raise fail(f"{file}: line {row.line}: {problem} with handle {row.handle!r}{where}; nothing stored", 2)
        chosen.append((found[0], row.token))
    for account, token in chosen:
        try:
            stored = store_token(account.id, kind, _secret_value(account.label, kind, token))
        except AccountError as exc:
            raise fail(str(exc)) from None
        _say(f"{stored.label}: stored {kind} (encrypted); status {_status_text(stored)}")
    _say(f"stored {len(chosen)} {kind} secrets from {file}")

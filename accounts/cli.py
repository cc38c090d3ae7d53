"""``mcn accounts``: register, import, log in, check, pause and resume the creator accounts mcn posts with.

Expected errors print one line (``error: <subject>: <problem>``) and exit 1; secrets are never printed and never
taken from the command line (``set-token`` reads a hidden prompt or stdin, so tokens stay out of shell history
and ``ps``).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from accounts.errors import AccountError
from accounts.importer import import_accounts
from accounts.login import DEFAULT_LOGIN_TIMEOUT_S, check_accounts, login_account, store_token
from accounts.registry import (
    ACCOUNT_STATUSES,
    DEFAULT_DAILY_CAP,
    DEFAULT_TIMEZONE,
    MAX_DAILY_CAP,
    Account,
    AccountSpec,
    add_account,
    get_account,
    list_accounts,
    pause_account,
    posts_today,
    set_status,
)
from accounts.vault import SECRET_KINDS
from accounts.windows import DEFAULT_WINDOWS
from mcn.terminal import console, fail, out

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
    platform,handle,display_name,niches,daily_cap,windows,timezone,author_id,approval.

    niches: tags separated by | or ; (beauty|skincare). windows: local HH:MM-HH:MM separated by ;
    (09:00-12:00;19:00-23:30; a window may not cross midnight). daily_cap: 1..50 (empty: 10). timezone: IANA name
    (empty: Asia/Shanghai). approval: yes/no, true/false, 1/0. A handle already registered on the platform is
    updated, not duplicated. Bad rows are reported by line number and skipped; the exit code is then 1.
    """
    try:
        result = import_accounts(file)
    except AccountError as exc:
        raise fail(str(exc)) from None
    for problem in result.problems:
        console.print(f"[red]error:[/red] {file}: {problem}", highlight=False, soft_wrap=True)
    _say(
        f"imported {len(result.created) + len(result.updated)} accounts from {file} "
        f"({len(result.created)} new, {len(result.updated)} updated, {len(result.problems)} bad rows skipped)"
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


@accounts_app.command("login")
def login_command(
    account_id: Annotated[int, typer.Argument(help="Account id (see `mcn accounts list`).")],
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the login.")] = DEFAULT_LOGIN_TIMEOUT_S,
    headless: Annotated[bool, typer.Option(help="No browser window (tests and automation only).")] = False,
) -> None:
    """Open a browser at the platform's login page, wait for you to log in, store the session encrypted."""
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
    try:
        account = get_account(account_id)
        until_at = parse_until(until, account, datetime.now(UTC)) if until else None
        account = pause_account(account_id, reason, until_at)
    except AccountError as exc:
        raise fail(str(exc)) from None
    _say(f"{account.label}: {_status_text(account)}")


@accounts_app.command("resume")
def resume_command(account_id: Annotated[int, typer.Argument()]) -> None:
    """Make a paused (or banned) account active again."""
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
    account_id: Annotated[int, typer.Argument()],
    kind: Annotated[str, typer.Option(help=f"Secret kind: {', '.join(SECRET_KINDS)} (oauth/session as JSON).")] = (
        "api_token"
    ),
) -> None:
    """Store a token for an API platform, read from a hidden prompt or stdin (never from the command line)."""
    if kind not in SECRET_KINDS:
        raise fail(f"--kind {kind!r} is unknown; use one of {', '.join(SECRET_KINDS)}")
    text = _read_secret(kind).strip()
    if not text:
        raise fail(f"account {account_id}: no {kind} given on stdin")
    value: Any = text
    if kind != "api_token":
        try:
            value = json.loads(text)
        except ValueError:
            # never echo the input: it is the secret
            raise fail(f"account {account_id}: the {kind} must be JSON") from None
    try:
        account = store_token(account_id, kind, value)
    except AccountError as exc:
        raise fail(str(exc)) from None
    _say(f"{account.label}: stored {kind} (encrypted); status {_status_text(account)}")

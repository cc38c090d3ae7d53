"""Plan a day's posts: :func:`publisher.plan.plan_day` for tomorrow (by default), and its schedule as an artifact.

The deployment ``plan-day`` (deploy/prefect.yaml) runs this every evening. The run is named after the day it
plans; its final state message says how many posts went to how many accounts, or why none did (no accounts, no
unused clips, caps); a table artifact ``plan-day-schedule`` lists the schedule: account, slot in the account's own
time zone, clip, product. Re-running a day adds only what became possible since (the plan is idempotent). Run it
directly::

    python flows/plan_day.py --date tomorrow

or plan from the CLI with ``mcn plan``. It uses a local ephemeral Prefect server unless ``PREFECT_API_URL`` is set.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from publisher.plan import PlanError, PlanResult, plan_day

#: rows in the schedule artifact; a bigger plan says how many more there are (``mcn plan`` shows them all)
MAX_SCHEDULE_ROWS = 2000


def resolve_day(text: str, today: date | None = None) -> date:
    """``today``, ``tomorrow`` or ``YYYY-MM-DD`` as a date (today is this machine's local date)."""
    today = today or date.today()
    word = text.strip().lower()
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise PlanError(f"day {text!r}: expected today, tomorrow or YYYY-MM-DD") from None


def _run_name() -> str:
    day = flow_run.get_parameters().get("day", "tomorrow")
    try:
        return f"plan-day {resolve_day(str(day)).isoformat()}"
    except PlanError:
        return f"plan-day {str(day)[:20]}"


def schedule_rows(result: PlanResult, limit: int = MAX_SCHEDULE_ROWS) -> list[dict[str, Any]]:
    """The plan's posts as table rows, by account and time: account handle, local slot with its zone, clip,
    product, title, approval."""
    from accounts.registry import list_accounts

    accounts = {a.id: a for a in list_accounts()}
    rows = []
    for post in sorted(result.posts, key=lambda p: (p.platform, p.account_id, p.slot_at))[:limit]:
        account = accounts.get(post.account_id)
        zone = account.zone if account else None
        local = post.slot_at.astimezone(zone) if zone else post.slot_at
        rows.append(
            {
                "account": f"{post.platform}/{account.handle}" if account else f"#{post.account_id}",
                "slot": f"{local:%Y-%m-%d %H:%M} {account.timezone if account else 'UTC'}",
                "clip": post.clip_id + (f" ({post.variant_id})" if post.variant_id else ""),
                "product": post.product_id or "",
                "title": post.title,
                "approval": post.approval,
            }
        )
    return rows


def summary(result: PlanResult) -> str:
    """One line: what was planned, or why nothing was."""
    verb = "would plan" if result.dry_run else "planned"
    line = f"{verb} {result.planned} posts on {result.accounts} accounts for {result.day.isoformat()}"
    reasons = result.unfilled_by_reason()
    if reasons:
        top = "; ".join(f"{n} slots: {reason}" for reason, n in list(reasons.items())[:3])
        line += f"; empty: {top}"
    if result.skipped_accounts:
        line += "; accounts without slots: " + ", ".join(
            f"{n} {status}" for status, n in sorted(result.skipped_accounts.items())
        )
    if not result.planned and not reasons and not result.skipped_accounts:
        line += " (no accounts to plan for, or every slot is already taken)"
    return line


@flow(name="plan-day", flow_run_name=_run_name, log_prints=False)
def plan_day_flow(
    day: str = "tomorrow",
    platform: str | None = None,
    allocation: str = "equal",
    dry_run: bool = False,
) -> State:
    """Plan ``day`` (today, tomorrow or YYYY-MM-DD) and publish the schedule as a table artifact.

    Ends Completed with the one-line summary as its message, or Failed with the reason (bad day, unknown
    allocation, bad platform limits) and no traceback.
    """
    logger = get_run_logger()
    try:
        target = resolve_day(day)
        result = plan_day(target, platform=platform, allocation=allocation, dry_run=dry_run)
    except PlanError as exc:
        return Failed(message=str(exc))
    line = summary(result)
    logger.info("%s", line)
    rows = schedule_rows(result)
    more = result.planned - len(rows)
    create_table_artifact(
        key="plan-day-schedule",
        table=rows or [{"account": "", "slot": "", "clip": "", "product": "", "title": line, "approval": ""}],
        description=line + (f" (first {len(rows)} shown; `mcn plan` lists all {result.planned})" if more else ""),
    )
    return Completed(message=line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default="tomorrow", dest="day")
    parser.add_argument("--platform", default=None)
    parser.add_argument("--allocation", default="equal")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    state = plan_day_flow(
        day=args.day, platform=args.platform, allocation=args.allocation, dry_run=args.dry_run, return_state=True
    )
    print(state.message)

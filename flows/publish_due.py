"""Publish the posts that are due: dispatcher passes (recover, reconcile, publish), every minute.

Two flows share one pass (:func:`run_pass`):

* flow ``publish-due`` (:func:`publish_due_loop`, deployment ``publish-due``, deploy/prefect.yaml) runs all
  day: one flow run per hour-long window that runs a pass every ``interval_seconds`` **in its own process**, so
  an idle minute costs a few database queries instead of a fresh Python process that imports Prefect and mcn
  (bench/bench_publish_due_idle.py measures both). The runs list shows one run per hour, named after its window
  and tagged ``service``; its state message says what the passes did so far. The hourly schedule starts the
  next window's run (a deployment concurrency limit of 1 with ENQUEUE starts it right after the previous one
  ends); a run started after its window ended (a worker that was down) ends Cancelled at once.
* flow ``publish-due-pass`` (:func:`publish_due_flow`, deployment ``publish-due-now``) is one pass, for "run it
  now" and scripts.

A pass only claims what is due at its own start, so a missed minute loses nothing. Several dispatchers may run
against Postgres at once (claims use ``FOR UPDATE SKIP LOCKED``); on SQLite a file lock admits one dispatcher.
Every pass emits a Prefect event ``mcn.publish-due.pass`` (the automation "publish-due has not run for 5
minutes" expects it), and posts that failed or were throttled, and accounts that now need a login, emit
``mcn.post.failed``, ``mcn.post.throttled`` and ``mcn.account.needs-login`` (see :mod:`mcn.automations`).
Every setting is a flow parameter. Run one pass directly::

    python flows/publish_due.py --limit 100

or through ``mcn publish due``. It uses a local ephemeral Prefect server unless ``PREFECT_API_URL`` is set.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.runtime import flow_run
from prefect.states import Cancelled, Failed, Running, State

from mcn.automations import NEEDS_LOGIN_EVENT, PASS_EVENT, POST_FAILED_EVENT, POST_THROTTLED_EVENT
from mcn.tables import as_utc
from publisher.dispatch import DispatchOptions, DispatchReport, PostOutcome, account_handles, publish_due

SERVICE_RESOURCE = {"prefect.resource.id": "mcn.publish-due", "prefect.resource.name": "publish-due"}
#: consecutive passes that raised before the loop run gives up and fails (the next window's run starts afresh)
MAX_FAILED_PASSES = 5
_STATUSES = ("posted", "failed", "unknown", "planned")


def is_throttled(outcome: PostOutcome) -> bool:
    """A post that went out but that the platform throttled (e.g. a near-duplicate of another account's post)."""
    return outcome.state == "throttled"


def _options(
    limit: int | None,
    platforms: list[str] | None,
    concurrency: int,
    grace_seconds: float | None,
    lease_seconds: float | None,
    misfire_policy: str,
) -> DispatchOptions:
    return DispatchOptions(
        max_posts=limit,
        platforms=tuple(platforms) if platforms else None,
        concurrency=concurrency,
        grace_seconds=grace_seconds,
        lease_seconds=lease_seconds,
        misfire_policy=misfire_policy,
    )


def publish_rows(report: DispatchReport) -> list[dict[str, str]]:
    """The publish table's rows: one per post touched, with the account's handle and "throttled" for a post that
    went out throttled (its stored status is posted)."""
    handles = account_handles([o.account_id for o in report.outcomes])
    return [
        {
            "post": o.post_id,
            "account": handles.get(o.account_id, str(o.account_id)),
            "platform": o.platform,
            "status": o.state,
            "remote id": o.remote_id or "",
            "detail": o.detail,
        }
        for o in report.outcomes
    ]


def _publish_table(report: DispatchReport) -> None:
    create_table_artifact(key="publish-due", table=publish_rows(report), description=report.summary())


def _emit_outcome_events(report: DispatchReport, began: datetime) -> None:
    """Events the automations react to: failed and throttled posts, accounts that this pass found logged out."""
    for o in report.outcomes:
        name = POST_FAILED_EVENT if o.status == "failed" else POST_THROTTLED_EVENT if is_throttled(o) else None
        if name is None:
            continue
        emit_event(
            event=name,
            resource={
                "prefect.resource.id": f"mcn.post.{o.post_id}",
                "prefect.resource.name": f"post {o.post_id[:12]}",
                "mcn.account": str(o.account_id),
                "mcn.platform": o.platform,
            },
            related=[SERVICE_RESOURCE | {"prefect.resource.role": "dispatcher"}],
            payload={"detail": o.detail[:500], "remote_id": o.remote_id or ""},
        )
    if not report.outcomes:
        return  # a login can only expire while publishing or reconciling
    from accounts.registry import list_accounts

    for account in list_accounts(status="needs_login"):
        if as_utc(account.updated_at) >= began:
            emit_event(
                event=NEEDS_LOGIN_EVENT,
                resource={
                    "prefect.resource.id": f"mcn.account.{account.id}",
                    "prefect.resource.name": account.label,
                    "mcn.platform": account.platform,
                },
                payload={"reason": (account.status_reason or "")[:300]},
            )


def run_pass(options: DispatchOptions) -> DispatchReport:
    """One dispatcher pass plus what Prefect should know of it: the table artifact (when posts were touched) and
    the events (always the pass event; failed/throttled posts; accounts that need a login)."""
    began = datetime.now(UTC)
    report = publish_due(options=options)
    if report.outcomes:
        _publish_table(report)
    _emit_outcome_events(report, began)
    emit_event(
        event=PASS_EVENT,
        resource=SERVICE_RESOURCE,
        payload={
            "summary": report.summary(),
            **{s: report.count(s) for s in _STATUSES},
            "throttled": report.throttled(),
        },
    )
    return report


def _counts(report: DispatchReport) -> dict[str, Any]:
    counts: dict[str, Any] = {status: report.count(status) for status in _STATUSES}
    counts["throttled"] = report.throttled()  # of the posted ones
    counts.update(recovered=report.recovered, reslotted=report.reslotted, missed=report.missed, skipped=report.skipped)
    return counts


@task(name="dispatch pass", retries=0)
def dispatch_pass(options: DispatchOptions) -> DispatchReport:
    # No Prefect retries: the outbox has its own retry, backoff and reconciliation rules per post.
    return run_pass(options)


@flow(name="publish-due-pass", log_prints=False)
def publish_due_flow(
    limit: int | None = None,
    platforms: list[str] | None = None,
    concurrency: int = 4,
    grace_seconds: float | None = None,
    lease_seconds: float | None = None,
    misfire_policy: str = "reslot",
) -> dict[str, Any]:
    """One dispatcher pass; returns the counts per outcome. A table artifact lists every post it touched."""
    logger = get_run_logger()
    report = dispatch_pass(_options(limit, platforms, concurrency, grace_seconds, lease_seconds, misfire_policy))
    logger.info("%s", report.summary())
    return _counts(report)


# -- the all-day loop ------------------------------------------------------------------------------------------


def window_of(moment: datetime, minutes: float) -> tuple[datetime, datetime]:
    """The ``minutes``-long window of the day (aligned to midnight UTC) that holds ``moment``."""
    length = timedelta(minutes=minutes)
    moment = datetime.fromtimestamp(moment.timestamp(), UTC)  # a plain datetime (Prefect hands out pendulum's)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight + ((moment - midnight) // length) * length
    return start, start + length


def _loop_run_name() -> str:
    params = flow_run.get_parameters()
    start, end = window_of(flow_run.get_scheduled_start_time(), float(params.get("window_minutes", 60.0)))
    start, end = start.astimezone(), end.astimezone()  # the worker's local time: what the operator reads
    return f"publish-due {start:%Y-%m-%d %H:%M}-{end:%H:%M}"


@dataclass(slots=True)
class _Tally:
    passes: int = 0
    skipped: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, report: DispatchReport) -> None:
        self.passes += 1
        self.skipped += report.skipped is not None
        for status in _STATUSES:
            self.counts[status] += report.count(status)
        self.counts["throttled"] += sum(is_throttled(o) for o in report.outcomes)
        self.counts["missed"] += report.missed
        self.counts["reslotted"] += report.reslotted

    def message(self, last: DispatchReport) -> str:
        done = ", ".join(f"{n} {k}" for k, n in self.counts.items() if n) or "nothing published yet"
        return f"{self.passes} passes: {done}; last pass {datetime.now().astimezone():%H:%M}: {last.summary()}"

    def result(self) -> dict[str, Any]:
        return {"passes": self.passes, "skipped_passes": self.skipped, **dict(self.counts)}


def _say(message: str) -> None:
    """Put ``message`` on the running flow run's state, where the runs list shows it (one API call)."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.get_id(), Running(message=message[:500]), force=True)  # type: ignore[arg-type]


@flow(name="publish-due", flow_run_name=_loop_run_name, log_prints=False)
def publish_due_loop(
    interval_seconds: float = 60.0,
    window_minutes: float = 60.0,
    limit: int | None = None,
    platforms: list[str] | None = None,
    concurrency: int = 4,
    grace_seconds: float | None = None,
    lease_seconds: float | None = None,
    misfire_policy: str = "reslot",
) -> dict[str, Any] | State:
    """A dispatcher pass every ``interval_seconds`` until the end of this run's ``window_minutes`` window.

    Passes run in this process (no task run, no artifact and no log line for an idle pass); the state message
    is updated after every pass that touched a post and every tenth pass. A pass that raises (database down) is
    one warning line; ``MAX_FAILED_PASSES`` in a row fail the run with the last reason.
    """
    logger = get_run_logger()
    if interval_seconds <= 0 or window_minutes <= 0:
        return Failed(message="interval_seconds and window_minutes must be positive")
    options = _options(limit, platforms, concurrency, grace_seconds, lease_seconds, misfire_policy)
    _, end = window_of(flow_run.get_scheduled_start_time(), window_minutes)
    if datetime.now(UTC) >= end:
        return Cancelled(
            message=f"its window ended at {end.astimezone():%H:%M} before it started; a later run covers now"
        )
    tally, failures = _Tally(), 0
    _say(f"passes every {interval_seconds:g} s until {end.astimezone():%H:%M}")
    while True:
        started = time.monotonic()
        try:
            report = run_pass(options)
        except Exception as exc:  # noqa: BLE001 - one line per failed pass; the loop goes on
            failures += 1
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            logger.warning("pass failed (%d in a row): %s", failures, reason)
            if failures >= MAX_FAILED_PASSES:
                return Failed(message=f"{failures} passes in a row failed: {reason}")
        else:
            failures = 0
            tally.add(report)
            if report.outcomes or report.missed or report.reslotted:
                logger.info("%s", report.summary())
            if report.outcomes or tally.passes % 10 == 1:
                _say(tally.message(report))
        wake = started + interval_seconds
        if datetime.now(UTC) + timedelta(seconds=max(0.0, wake - time.monotonic())) >= end:
            break
        time.sleep(max(0.0, wake - time.monotonic()))
    logger.info("window done: %s", tally.result())
    return tally.result()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--platform", action="append", dest="platforms")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    print(publish_due_flow(limit=args.limit, platforms=args.platforms, concurrency=args.concurrency))

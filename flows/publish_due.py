"""Publish the posts that are due: one dispatcher pass (recover, reconcile, publish), every minute.

The deployment ``publish-due`` (deploy/prefect.yaml) runs this flow on a 60-second interval with a deployment
concurrency limit of 1 and collision strategy CANCEL_NEW, so late runs never pile up behind a slow pass: a pass
only claims what is due at its own start, so a skipped run loses nothing. Several work-pool workers may run it
against Postgres at once (claims use ``FOR UPDATE SKIP LOCKED``); on SQLite a file lock admits one dispatcher.
Every setting is a flow parameter. Run it directly::

    python flows/publish_due.py --limit 100

or through ``mcn publish due``. It uses a local ephemeral Prefect server unless ``PREFECT_API_URL`` is set.
"""

from __future__ import annotations

import argparse
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from publisher.dispatch import DispatchOptions, DispatchReport, publish_due


@task(name="dispatch pass", retries=0)
def dispatch_pass(options: DispatchOptions) -> DispatchReport:
    # No Prefect retries: the outbox has its own retry, backoff and reconciliation rules per post.
    return publish_due(options=options)


@flow(name="publish-due", log_prints=False)
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
    options = DispatchOptions(
        max_posts=limit,
        platforms=tuple(platforms) if platforms else None,
        concurrency=concurrency,
        grace_seconds=grace_seconds,
        lease_seconds=lease_seconds,
        misfire_policy=misfire_policy,
    )
    report = dispatch_pass(options)
    logger.info("%s", report.summary())
    if report.outcomes:
        create_table_artifact(
            key="publish-due",
            table=[
                {
                    "post": o.post_id,
                    "account": o.account_id,
                    "platform": o.platform,
                    "status": o.status,
                    "remote id": o.remote_id or "",
                    "detail": o.detail,
                }
                for o in report.outcomes
            ],
            description=report.summary(),
        )
    counts: dict[str, Any] = {status: report.count(status) for status in ("posted", "failed", "unknown", "planned")}
    counts.update(recovered=report.recovered, reslotted=report.reslotted, missed=report.missed, skipped=report.skipped)
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--platform", action="append", dest="platforms")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    print(publish_due_flow(limit=args.limit, platforms=args.platforms, concurrency=args.concurrency))

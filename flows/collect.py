"""Collect metrics and affiliate orders: one pass of :func:`analytics.collect.collect`, every hour.

The deployment ``collect`` (deploy/prefect.yaml) runs this flow hourly with a concurrency limit of 1 (a run that
finds the previous one still going is cancelled: the next one reads from the stored watermarks anyway). Every
setting is a flow parameter. Run it directly::

    python flows/collect.py --platform sandbox

or through ``mcn collect``. It uses a local ephemeral Prefect server unless ``PREFECT_API_URL`` is set.
"""

from __future__ import annotations

import argparse
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from analytics.collect import CollectOptions, CollectReport, collect


@task(name="collect pass", retries=0)
def collect_pass(options: CollectOptions) -> CollectReport:
    # No Prefect retries: a failed account is re-read from its watermark by the next run.
    return collect(options)


def report_markdown(report: CollectReport) -> str:
    """The run as a short markdown artifact: counts, attribution coverage, problems."""
    lines = ["# collect", "", report.summary(), ""]
    if report.coverage is not None and report.coverage.orders:
        lines += ["| attribution | orders |", "|---|---:|"]
        lines += [f"| {reason} | {n} |" for reason, n in report.coverage.by_reason.items()]
        lines += ["", report.coverage.summary(), ""]
    for name, reason in report.skipped_platforms.items():
        lines.append(f"- platform {name} skipped: {reason}")
    for name, reason in report.skipped_orders.items():
        lines.append(f"- orders of {name} skipped: {reason}")
    for problem in report.problems[:50]:
        lines.append(f"- {problem}")
    return "\n".join(lines)


@flow(name="collect", log_prints=False)
def collect_flow(
    platforms: list[str] | None = None,
    max_post_age_days: float = 30.0,
    metrics: bool = True,
    orders: bool = True,
) -> dict[str, Any]:
    """One collection pass; returns its counts. A markdown artifact keeps the summary and every problem."""
    logger = get_run_logger()
    options = CollectOptions(
        platforms=tuple(platforms) if platforms else None,
        max_post_age_days=max_post_age_days,
        metrics=metrics,
        orders=orders,
    )
    report = collect_pass(options)
    logger.info("%s", report.summary())
    create_markdown_artifact(key="collect", markdown=report_markdown(report), description=report.summary())
    return {
        "accounts": report.accounts,
        "posts": report.posts,
        "snapshots": report.snapshots,
        "orders_read": report.orders_read,
        "orders_new": report.orders.inserted,
        "orders_moved": report.orders.advanced,
        "problems": len(report.problems),
        "attributed_share": report.coverage.share if report.coverage else 0.0,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", action="append", dest="platforms")
    parser.add_argument("--max-post-age-days", type=float, default=30.0)
    args = parser.parse_args()
    print(collect_flow(platforms=args.platforms, max_post_age_days=args.max_post_age_days))

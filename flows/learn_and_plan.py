"""Nightly: collect metrics and orders, update the policy's posteriors, plan tomorrow with them, and leave a
markdown artifact saying what changed and why (:func:`analytics.nightly.learn_and_plan`).

The deployment ``learn-and-plan`` (deploy/prefect.yaml) runs it every night. Run it directly::

    python flows/learn_and_plan.py --date 2025-03-04 --dry-run

It uses a local ephemeral Prefect server unless ``PREFECT_API_URL`` is set.
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from analytics.collect import CollectOptions
from analytics.nightly import LearnReport, learn_and_plan, report_markdown


@task(name="collect, learn and plan", retries=0)
def nightly_pass(day: date, platform: str | None, dry_run: bool, collect_first: bool) -> LearnReport:
    # One task: the plan must read exactly what the collection just stored; a failed night is re-run as a whole.
    return learn_and_plan(
        day, collect_first=collect_first, collect_options=CollectOptions(), platform=platform, dry_run=dry_run
    )


@flow(name="learn-and-plan", log_prints=False)
def learn_and_plan_flow(
    day: str | None = None, platform: str | None = None, dry_run: bool = False, collect_first: bool = True
) -> dict[str, Any]:
    """Plan ``day`` (YYYY-MM-DD; default tomorrow) with the learned allocation; returns the per-product counts."""
    logger = get_run_logger()
    target = date.fromisoformat(day) if day else date.today() + timedelta(days=1)
    report = nightly_pass(target, platform, dry_run, collect_first)
    logger.info("%s", report.summary())
    create_markdown_artifact(key="learn-and-plan", markdown=report_markdown(report), description=report.summary())
    return {
        "day": target.isoformat(),
        "planned": report.plan.planned,
        "per_product": {str(k): v for k, v in report.plan.per_product.items()},
        "changes": {c.product_id or "": c.verdict for c in report.changes},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default=None, help="Day to plan, YYYY-MM-DD (default: tomorrow).")
    parser.add_argument("--platform", default=None)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--no-collect", action="store_true")
    args = parser.parse_args()
    print(
        learn_and_plan_flow(
            day=args.date, platform=args.platform, dry_run=args.dry_run, collect_first=not args.no_collect
        )
    )

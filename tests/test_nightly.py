"""The nightly loop: plan tomorrow with the learned allocation and report what changed with posterior figures;
the ``learn-and-plan`` Prefect flow leaves it as a markdown artifact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from analytics.nightly import learn_and_plan, report_markdown
from tests.analytics_support import add_account, add_clips, add_product, seed_history

NOW = datetime(2025, 3, 20, 4, 0, tzinfo=UTC)  # the platform's (simulated) clock
DAY = datetime.now(UTC).date() + timedelta(days=1)  # tomorrow on the wall clock: no slot is past yet


def seed() -> None:
    # History: p1 sells six orders a post, p2 one; yesterday the plan still split evenly (5 posts each).
    seed_history(NOW, {"p1": 6, "p2": 1}, day=DAY - timedelta(days=5))
    seed_history(NOW, {"p1": 6, "p2": 1}, posts_per_product=5, day=DAY - timedelta(days=1))
    for product in ("p1", "p2", "p3"):
        add_product(product, niches=["home"])
        add_clips(product, 30, f"free-{product}")
    for n in range(3):
        add_account(f"planner{n}")


def test_learn_and_plan_says_what_changed_and_why(data_dir: Path) -> None:
    seed()
    report = learn_and_plan(DAY, collect_first=False)
    assert report.plan.planned == 50 and not report.plan.dry_run  # 5 accounts x 10
    by_product = {c.product_id: c for c in report.changes}
    assert (by_product["p1"].before, by_product["p2"].before, by_product["p3"].before) == (5, 5, 0)
    assert by_product["p1"].verdict == "promoted" and by_product["p1"].after > 10
    assert by_product["p2"].verdict in ("dropped", "stopped")
    assert by_product["p3"].verdict == "new"
    p1 = by_product["p1"]
    assert p1.mean is not None and p1.low is not None and p1.high is not None and p1.p_best is not None
    assert p1.low < p1.mean < p1.high and p1.p_best > 0.5 and p1.paid == 150 and p1.posts == 25
    text = report_markdown(report)
    assert "| p1 | promoted | 5 |" in text and "P(best)" in text and "Pay lag fitted" in text
    # a second run the same night adds nothing
    again = learn_and_plan(DAY, collect_first=False)
    assert again.plan.planned == 0


def test_learn_and_plan_flow_leaves_an_artifact(prefect_server_for_test: str, data_dir: Path) -> None:
    from prefect.artifacts import Artifact

    from flows.learn_and_plan import learn_and_plan_flow

    seed()
    counts = learn_and_plan_flow(day=DAY.isoformat(), dry_run=True, collect_first=False)
    artifact = Artifact.get("learn-and-plan")
    assert counts["changes"]["p1"] == "promoted" and counts["planned"] > 0
    # Artifact.get answers the server's record of it (a client schema object), not an Artifact
    assert artifact is not None and "promoted" in str(getattr(artifact, "data", ""))

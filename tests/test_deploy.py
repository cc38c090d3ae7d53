"""deploy/prefect.yaml is what `prefect deploy --all` reads: it must validate and point at real flows."""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path

import yaml
from prefect.cli.deploy._models import ConcurrencyLimitSpec, PrefectYamlModel, RawScheduleConfig

ROOT = Path(__file__).resolve().parents[1]


def test_deployments_validate_and_their_entrypoints_are_flows() -> None:
    config = PrefectYamlModel.model_validate(yaml.safe_load((ROOT / "deploy/prefect.yaml").read_text()))
    by_name = {d.name: d for d in config.deployments}
    # every stage in flows/ is a deployment
    assert set(by_name) == {
        "make-clips",
        "make-remix",
        "plan-day",
        "publish-due",
        "publish-due-now",
        "collect",
        "learn-and-plan",
    }
    for deployment in config.deployments:
        assert deployment.entrypoint is not None
        module_path, _, function = deployment.entrypoint.partition(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        assert hasattr(getattr(module, function), "fn"), f"{deployment.entrypoint} is not a Prefect flow"
    # publish-due: one long-lived run per hour (passes every minute in-process), the next hour's run queued
    publish = by_name["publish-due"]
    assert publish.entrypoint == "flows/publish_due.py:publish_due_loop"
    schedule, limit = (publish.schedules or [None])[0], publish.concurrency_limit
    assert isinstance(schedule, RawScheduleConfig) and schedule.cron == "0 * * * *"
    assert publish.parameters["interval_seconds"] == 60 and publish.parameters["window_minutes"] == 60
    assert isinstance(limit, ConcurrencyLimitSpec) and limit.limit == 1 and limit.collision_strategy == "ENQUEUE"
    assert not by_name["publish-due-now"].schedules  # one pass on demand
    collect = by_name["collect"]
    hourly = (collect.schedules or [None])[0]
    assert isinstance(hourly, RawScheduleConfig) and hourly.interval == timedelta(hours=1)
    plan = by_name["plan-day"]
    evening = (plan.schedules or [None])[0]
    assert isinstance(evening, RawScheduleConfig) and evening.cron == "0 20 * * *"
    assert evening.timezone == "Asia/Shanghai" and plan.parameters["day"] == "tomorrow"
    nightly = (by_name["learn-and-plan"].schedules or [None])[0]
    assert isinstance(nightly, RawScheduleConfig) and nightly.cron == "30 19 * * *" and nightly.active is False

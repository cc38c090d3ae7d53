"""deploy/prefect.yaml is what `prefect deploy --all` reads: it must validate and point at real flows."""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
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
        "make-edits",
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


# --- many machines: deploy/Dockerfile, deploy/compose.yaml, deploy/kubernetes/ (no Docker engine or cluster here:
# the files are parsed and validated against the published schemas; see deploy/README.md) ---

COMPOSE_SCHEMA = ROOT / "tests/data/compose-spec/compose-spec.json"
KUBERNETES_VERSION = "1.33.0"
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(ValueError):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
    ``${VAR?error}``, ``$$``) over every string of a loaded compose file, as ``docker compose config`` does
    before it validates."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        have = env.get(name)
        unset = have is None or (op is not None and op.startswith(":") and have == "")
        if op in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset:
            return arg
        return have or ""

    return _VARIABLE.sub(one, value)


def _compose(env: dict[str, str]) -> dict[str, Any]:
    raw = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())  # YAML merge keys (<<) resolved here
    config = interpolate(raw, env)
    for service in config["services"].values():  # compose casts the typed fields after interpolation
        if "replicas" in (service.get("deploy") or {}):
            service["deploy"]["replicas"] = int(service["deploy"]["replicas"])
    return cast(dict[str, Any], config)


def _compose_env(**extra: str) -> dict[str, str]:
    return {"POSTGRES_PASSWORD": "pw-test", "MCN_DASHBOARD_PASSWORD": "dash-test", **extra}


def test_dockerfile_installs_what_mcn_needs_the_way_bootstrap_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockerfile_parse import DockerfileParser

    from mcn.settings import get_settings
    from mcn.whisper_model import default_offline_dir

    parser = DockerfileParser(path=str(ROOT / "deploy/Dockerfile"))
    assert parser.baseimage is not None and re.fullmatch(r"python:3\.11-slim(-\w+)?", parser.baseimage)
    runs = [step["value"] for step in parser.structure if step["instruction"] == "RUN"]
    apt = next(run for run in runs if "apt-get install" in run)
    for package in ("ffmpeg", "espeak-ng", "fonts-noto-cjk", "curl"):  # curl: the compose health checks
        assert re.search(rf"(^|\s){re.escape(package)}(\s|$)", apt), package
    install = next(run for run in runs if "pip install" in run and " -e " in run)
    extras = re.search(r'-e "\.\[([\w,-]+)\]"', install)
    assert extras is not None
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras.group(1).split(",")) <= set(declared)
    assert {"tts", "dashboard", "deploy"} <= set(extras.group(1).split(","))
    # the offline whisper model is built where MCN_WHISPER_MODEL points, outside the /data volume
    models = re.search(r"MCN_DATA_DIR=(\S+) mcn models install base", install)
    assert models is not None
    monkeypatch.setenv("MCN_DATA_DIR", models.group(1))
    get_settings.cache_clear()
    try:
        built_at = default_offline_dir("base")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert parser.envs["MCN_WHISPER_MODEL"] == str(built_at)
    assert not str(built_at).startswith(parser.envs["MCN_DATA_DIR"] + "/")
    workdir = next(step["value"] for step in parser.structure if step["instruction"] == "WORKDIR")
    assert parser.envs["MCN_HOME"] == workdir  # the deployments' pull step changes into MCN_HOME
    # the build context keeps what the image runs: every package, the deployments and the provisioning script
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    ignored = [line for line in ignored if line and not line.startswith("#")]
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    needed = [name.rstrip("*") for name in packages["include"]] + ["deploy", "pyproject.toml", "README.md"]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), f"{path} is left out of the image"


def test_compose_file_validates_against_the_compose_spec_and_wires_the_stack() -> None:
    import jsonschema

    schema = json.loads(COMPOSE_SCHEMA.read_text())
    config = _compose(_compose_env(MCN_WORKERS="3"))
    jsonschema.Draft201909Validator(schema).validate(config)
    services = config["services"]
    assert set(services) == {"postgres", "prefect-server", "setup", "worker", "console", "dashboard"}
    assert services["worker"]["deploy"]["replicas"] == 3
    assert _compose(_compose_env())["services"]["worker"]["deploy"]["replicas"] == 2  # the default
    # every long-running service says when it is healthy; the one-shot setup ends instead
    for name, service in services.items():
        assert ("healthcheck" in service) == (name != "setup"), name
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            wanted = "service_completed_successfully" if dependency == "setup" else "service_healthy"
            assert condition == {"condition": wanted}, (name, dependency)
    for name in ("worker", "console", "dashboard"):
        assert "setup" in services[name]["depends_on"], name
    # Prefect's server on Postgres (its own database), mcn's on the same Postgres
    server_env = services["prefect-server"]["environment"]
    assert server_env["PREFECT_SERVER_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://mcn:pw-test@postgres")
    assert "CREATE DATABASE prefect" in (ROOT / "deploy/postgres-init.sql").read_text()
    for name in ("prefect-server", "setup", "worker", "console", "dashboard"):
        env = services[name]["environment"]
        assert env["MCN_DATABASE_URL"] == "postgresql://mcn:pw-test@postgres:5432/mcn", name
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api", name
        assert "mcn-data:/data" in services[name]["volumes"], name
        build = services[name]["build"]
        assert (ROOT / "deploy" / build["context"] / build["dockerfile"]).resolve() == ROOT / "deploy/Dockerfile"
    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith(".")}
    assert named == set(config["volumes"])
    for service in services.values():  # bind-mounted files exist, relative to deploy/
        for volume in service.get("volumes", []):
            if volume.startswith("."):
                assert (ROOT / "deploy" / volume.split(":")[0]).is_file(), volume
    # published ports stay on loopback unless the operator says otherwise
    ports = [p for s in services.values() for p in s.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
    assert services["setup"]["command"][:2] == ["python", "deploy/provision.py"]
    assert services["setup"]["command"][-1] == "3"  # the pool's heavy deployments scale with the workers
    assert services["console"]["command"] == ["mcn", "console", "serve", "--host", "0.0.0.0", "--port", "8600"]
    # the dashboard's options are the ones `mcn dashboard` takes (off loopback it refuses to start without a password)
    import inspect

    from mcn.dashboard_cli import dashboard_command

    command = services["dashboard"]["command"]
    assert command[:2] == ["mcn", "dashboard"]
    options = {arg.removeprefix("--") for arg in command[2:] if arg.startswith("--")}
    assert options and options <= set(inspect.signature(dashboard_command).parameters)
    assert services["dashboard"]["environment"]["MCN_DASHBOARD_PASSWORD"] == "dash-test"


def test_compose_refuses_to_render_without_the_required_secrets() -> None:
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        _compose({"MCN_DASHBOARD_PASSWORD": "x"})
    with pytest.raises(MissingVariable, match="MCN_DASHBOARD_PASSWORD"):
        _compose({"POSTGRES_PASSWORD": "x"})


def _kubernetes_documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((ROOT / "deploy/kubernetes/mcn.yaml").read_text()) if d]


def test_kubernetes_manifests_validate_against_the_api_schemas() -> None:
    import kubernetes_validate

    documents = _kubernetes_documents()
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert {("Namespace", "mcn"), ("Secret", "mcn-env"), ("PersistentVolumeClaim", "mcn-data")} <= kinds
    assert {("Deployment", "mcn-console"), ("Deployment", "mcn-dashboard"), ("Job", "mcn-provision")} <= kinds
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        by_kind.setdefault(document["kind"], []).append(document)
    claim = next(d for d in documents if d["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every pod shares the data
    for deployment in by_kind["Deployment"]:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert any(s["spec"]["selector"].items() <= labels.items() for s in by_kind["Service"])
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert "readinessProbe" in container and "livenessProbe" in container
    for workload in by_kind["Deployment"] + by_kind["Job"]:
        pod = workload["spec"]["template"]["spec"]
        assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "mcn-env"}}]
        assert all(d["metadata"].get("namespace", "mcn") == "mcn" for d in documents)
    provision = next(d for d in by_kind["Job"] if d["metadata"]["name"] == "mcn-provision")
    argv = provision["spec"]["template"]["spec"]["containers"][0]["command"]
    for flag in ("--prefect-file", "--base-job-template"):
        assert (ROOT / argv[argv.index(flag) + 1]).is_file()
    # a broken manifest is refused (the validator is not a no-op)
    broken = json.loads(json.dumps(next(iter(by_kind["Deployment"]))))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kubernetes_work_pool_job_template_renders_a_valid_job() -> None:
    import kubernetes_validate
    from prefect.utilities.templating import apply_values

    template = json.loads((ROOT / "deploy/kubernetes/base-job-template.json").read_text())
    variables = template["variables"]["properties"]
    # what a kubernetes worker fills in for one flow run: the defaults plus the run's name, command and env
    values = {name: spec["default"] for name, spec in variables.items() if "default" in spec}
    values.update(
        name="make-clips-run",
        command="prefect flow-run execute",
        env={"PREFECT__FLOW_RUN_ID": "0000"},
        labels={"prefect.io/flow-run-id": "0000"},
    )
    referenced = set(re.findall(r"\{\{ (\w+) \}\}", json.dumps(template["job_configuration"])))
    assert referenced <= set(variables), referenced - set(variables)
    configuration = apply_values(template["job_configuration"], values)
    job = configuration["job_manifest"]
    # env as the worker turns it into a list, args as it splits the command
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": k, "value": v} for k, v in container["env"].items()]
    container["args"] = container["args"].split()
    job["metadata"]["name"] = job["metadata"].pop("generateName") + "abcde"
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    pod = job["spec"]["template"]["spec"]
    documents = {(d["kind"], d["metadata"]["name"]) for d in _kubernetes_documents()}
    assert ("PersistentVolumeClaim", pod["volumes"][0]["persistentVolumeClaim"]["claimName"]) in documents
    assert ("Secret", container["envFrom"][0]["secretRef"]["name"]) in documents
    assert job["metadata"]["namespace"] == "mcn"
    # a make-clips run gets at least the 2 cores ASR and ffmpeg are tuned for
    assert float(container["resources"]["requests"]["cpu"]) >= 2


def test_kubernetes_deployments_are_the_process_ones_on_the_kubernetes_pool() -> None:
    process = yaml.safe_load((ROOT / "deploy/prefect.yaml").read_text())
    kubernetes = yaml.safe_load((ROOT / "deploy/kubernetes/prefect.yaml").read_text())
    PrefectYamlModel.model_validate(kubernetes)
    assert {d["work_pool"]["name"] for d in kubernetes["deployments"]} == {"mcn-kubernetes"}
    for deployment in kubernetes["deployments"]:
        deployment["work_pool"]["name"] = "mcn-process"
    assert kubernetes == process
    values = yaml.safe_load((ROOT / "deploy/kubernetes/worker-values.yaml").read_text())
    assert values["worker"]["config"]["workPool"] == "mcn-kubernetes"
    assert values["worker"]["config"]["type"] == "kubernetes"
    assert values["worker"]["image"]["prefectTag"].startswith(process["prefect-version"])


def test_provision_refuses_bad_arguments_with_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    for argv, needle in (
        (["--workers", "0"], "--workers must be at least 1"),
        (["--prefect-file", str(tmp_path / "nope.yaml")], "nope.yaml: no such file"),
        ([], "PREFECT_API_URL is not set"),
    ):
        done = subprocess.run(
            [sys.executable, str(ROOT / "deploy/provision.py"), *argv], capture_output=True, text=True, env=env
        )
        assert done.returncode == 2, (argv, done.stderr)
        assert needle in done.stderr.strip().splitlines()[-1]

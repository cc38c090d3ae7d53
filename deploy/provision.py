"""Provision a long-lived Prefect server for mcn on many machines, idempotently; then workers can start.

Steps: migrate mcn's database (``MCN_DATABASE_URL``), create the work pool, ``prefect deploy`` the deployments of a
prefect.yaml, let each make-clips / make-remix run have its own worker (their deployments' concurrency limit, 1 on
one box, becomes the worker count) and set up the automations. deploy/compose.yaml's ``setup`` service runs it;
on Kubernetes run it once as a Job or from any machine that reaches the API::

    PREFECT_API_URL=http://prefect:4200/api MCN_DATABASE_URL=postgresql://... \\
        python deploy/provision.py --workers 4
    python deploy/provision.py --workers 8 --pool mcn-kubernetes --pool-type kubernetes \\
        --prefect-file deploy/kubernetes/prefect.yaml --base-job-template deploy/kubernetes/base-job-template.json

Exit 0 when everything is in place, 1 with one line on stderr when a step failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the deployments whose runs use every core of a worker: one run per worker at a time
HEAVY = ("make-clips", "make-remix", "make-edits")


def _fail(message: str) -> int:
    print(f"provision: {message}", file=sys.stderr)
    return 1


def migrate_database() -> str:
    """Bring mcn's database to the latest schema; return the revision."""
    from mcn.db import current_revision, open_engine
    from mcn.settings import get_settings

    engine = open_engine(get_settings().sqlalchemy_url)
    return str(current_revision(engine))


def ensure_pool(name: str, pool_type: str, base_job_template: Path | None) -> None:
    """Create the work pool, or update its job template when one is given (an existing pool keeps its type)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists

    template = json.loads(base_job_template.read_text(encoding="utf-8")) if base_job_template else {}
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type=pool_type, base_job_template=template))
        except ObjectAlreadyExists:
            if template:
                client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))


def deploy(prefect_file: Path, names: list[str]) -> None:
    """``prefect deploy`` the named deployments of ``prefect_file`` (all when ``names`` is empty)."""
    selection = [arg for name in names for arg in ("--name", name)] or ["--all"]
    env = {**os.environ, "MCN_HOME": os.environ.get("MCN_HOME", str(ROOT))}
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", *selection, "--prefect-file", str(prefect_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"prefect deploy failed: {last}")


def scale_heavy_deployments(workers: int) -> list[str]:
    """Let up to ``workers`` make-clips (make-remix, make-edits) runs go at once: one per worker, not one in all."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.exceptions import ObjectNotFound

    scaled = []
    with get_client(sync_client=True) as client:
        for name in HEAVY:
            with contextlib.suppress(ObjectNotFound):
                deployment = client.read_deployment_by_name(f"{name}/{name}")
                client.update_deployment(deployment.id, DeploymentUpdate(concurrency_limit=workers))
                scaled.append(name)
    return scaled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="how many workers take runs from the pool")
    parser.add_argument("--pool", default="mcn-process")
    parser.add_argument("--pool-type", default="process", choices=("process", "kubernetes", "docker"))
    parser.add_argument("--prefect-file", type=Path, default=ROOT / "deploy" / "prefect.yaml")
    parser.add_argument("--base-job-template", type=Path, help="JSON job template for the pool")
    parser.add_argument("--deployment", action="append", default=[], help="deploy only this one (repeatable)")
    parser.add_argument("--no-automations", action="store_true")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    for path in (args.prefect_file, args.base_job_template):
        if path is not None and not path.is_file():
            parser.error(f"{path}: no such file")
    if not os.environ.get("PREFECT_API_URL"):
        parser.error("PREFECT_API_URL is not set: provision a long-lived server (mcn up does one box)")
    step = "database"
    try:
        print(f"provision: database at revision {migrate_database()}")
        step = "work pool"
        ensure_pool(args.pool, args.pool_type, args.base_job_template)
        print(f"provision: work pool {args.pool} ({args.pool_type})")
        step = "deploy"
        deploy(args.prefect_file, args.deployment)
        print(f"provision: deployed {', '.join(args.deployment) or 'all deployments'} of {args.prefect_file.name}")
        step = "scale"
        scaled = scale_heavy_deployments(args.workers)
        print(f"provision: {', '.join(scaled) or 'no heavy deployment'} may run {args.workers} at a time")
        if not args.no_automations:
            step = "automations"
            from mcn.automations import ensure_automations

            print(f"provision: automations {', '.join(ensure_automations().names)}")
    except Exception as exc:  # noqa: BLE001 - one line for the operator, whatever the step raised
        return _fail(f"{step}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

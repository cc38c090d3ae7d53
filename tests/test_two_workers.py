"""Many machines, on one: a real Prefect server on Postgres, provisioned by deploy/provision.py, and two
``prefect worker start`` processes on the one process pool share make-clips runs. Every run executes exactly once
(one Running state, one worker, one mcn run row) and every source's clips are recorded once, in mcn's database on
the real Postgres (a throwaway database per test, as tests/helpers.py makes them)."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import POSTGRES_ADMIN_URL, lavfi_video, throwaway_postgres

ROOT = Path(__file__).resolve().parents[1]
RUNS = 4
LINES = (
    "This kettle boils a litre in two minutes.",
    "It is only nineteen dollars today, link number one.",
    "Grab it now before the price goes back up.",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Callable[[], bool], seconds: float, what: str, logs: Path | None = None) -> None:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            tail = logs.read_text(errors="replace")[-3000:] if logs and logs.exists() else ""
            pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}\n{tail}")
        time.sleep(0.5)


@contextmanager
def _prefect_database() -> Iterator[str]:
    """A throwaway Postgres database for the Prefect server itself (asyncpg URL), dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"prefect_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _sources(folder: Path) -> tuple[list[Path], Path, Path]:
    """``RUNS`` short videos (one source each), one SRT that sells a kettle every 4 s, the kettle as a product."""
    videos = [
        lavfi_video(folder / f"live-{i}.mp4", "testsrc=s=320x240:r=25:d=14", f"sine=f={300 + 50 * i}:r=16000:d=14")
        for i in range(RUNS)
    ]
    cues = [
        f"{n + 1}\n00:00:{start:02d},500 --> 00:00:{start + 3:02d},500\n{LINES[n % 3]}\n"
        for n, start in enumerate(range(0, 10, 4))
    ]
    srt = folder / "talk.srt"
    srt.write_text("\n".join(cues), encoding="utf-8")
    products = folder / "products.csv"
    products.write_text(
        "id,name,aliases,price,commission_rate,link\nkettle,kettle,,19,0.1,https://shop.example/p/kettle\n",
        encoding="utf-8",
    )
    return videos, srt, products


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_share_make_clips_runs_and_none_runs_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from sqlmodel import select

    from mcn.db import session
    from mcn.tables import ClipRecord, RunRecord, SourceRecord

    started = time.monotonic()
    videos, srt, products = _sources(tmp_path)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    procs: list[subprocess.Popen[bytes]] = []
    with throwaway_postgres(monkeypatch) as mcn_url, _prefect_database() as prefect_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MCN_"))}
        env.update(
            PREFECT_HOME=str(tmp_path / "prefect-home"),
            PREFECT_API_URL=api,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_WORKER_QUERY_SECONDS="1",
            MCN_DATABASE_URL=mcn_url,
            MCN_DATA_DIR=str(tmp_path / "data"),
            MCN_HOME=str(ROOT),
        )
        server_log = tmp_path / "server.log"
        try:
            with server_log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "prefect",
                            "server",
                            "start",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            f"{port}",
                        ],
                        env={
                            **env,
                            "PREFECT_SERVER_DATABASE_CONNECTION_URL": prefect_url,
                            "PREFECT_UI_ENABLED": "false",
                        },
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

            def healthy() -> bool:
                try:
                    return httpx.get(f"{api}/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            _wait(healthy, 180, "the Prefect server on Postgres", server_log)
            server_up = time.monotonic() - started
            provisioned = subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "deploy/provision.py"),
                    *("--workers", "2", "--deployment", "make-clips"),
                    "--no-automations",
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            assert provisioned.returncode == 0, provisioned.stderr[-3000:]
            assert "make-clips may run 2 at a time" in provisioned.stdout, provisioned.stdout
            # two workers, each one run at a time, so that both must take runs
            logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
            for name, log in zip(("worker-a", "worker-b"), logs, strict=True):
                with log.open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-m",
                                "prefect",
                                "worker",
                                "start",
                                "--pool",
                                "mcn-process",
                                "--type",
                                "process",
                                "--name",
                                name,
                                "--limit",
                                "1",
                            ],
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
            with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:

                def both_online() -> bool:
                    workers = client.read_workers_for_work_pool("mcn-process")
                    return {w.name for w in workers if w.status.value == "ONLINE"} >= {"worker-a", "worker-b"}

                _wait(both_online, 120, "both workers online", logs[1])
                deployment = client.read_deployment_by_name("make-clips/make-clips")
                limit = deployment.global_concurrency_limit  # what provision.py's concurrency_limit=2 became
                assert limit is not None and limit.limit == 2, limit
                flow_runs = [
                    client.create_flow_run_from_deployment(
                        deployment.id,
                        parameters={
                            "source": str(video),
                            "transcript": str(srt),
                            "products": str(products),
                            "language": "en",
                            "max_clips": 2,
                            "min_seconds": 3,
                            "max_seconds": 8,
                            "out": str(tmp_path / f"out-{i}"),
                            "width": 180,
                            "height": 320,
                            "brand": f"brand{i}",
                        },
                    )
                    for i, video in enumerate(videos)
                ]
                ids = {run.id for run in flow_runs}
                runs_submitted = time.monotonic()

                def all_final() -> bool:
                    return all(client.read_flow_run(i).state.is_final() for i in ids)  # type: ignore[union-attr]

                _wait(all_final, 300, "the make-clips runs", logs[0])
                runs_done = time.monotonic()
                final = [client.read_flow_run(i) for i in ids]
                histories = {i: client.read_flow_run_states(i) for i in ids}
        finally:
            _stop(procs[1:])
            _stop(procs[:1])
        for run in final:
            assert run.state is not None and run.state.is_completed(), (run.name, run.state)
            running = [s for s in histories[run.id] if s.type.value == "RUNNING"]
            assert len(running) == 1, (run.name, [s.type.value for s in histories[run.id]])
        # each run executed in exactly one worker's flow-run process (its "View at .../flow-run/<id>" start line),
        # and both workers ran some; a worker that raced the other for a run had its submission aborted by the
        # server ("Aborted submission ... cannot transition to a PENDING state"), never a second execution
        texts = [log.read_text(errors="replace") for log in logs]
        executed = [{i for i in ids if f"flow-run/{i}" in text} for text in texts]
        assert all(sum(text.count(f"flow-run/{i}") for text in texts) == 1 for i in ids), executed
        assert executed[0].isdisjoint(executed[1]) and executed[0] | executed[1] == ids, executed
        assert executed[0] and executed[1], executed
        aborted = sum(text.count("Aborted submission of flow run") for text in texts)
        # the two workers ran runs at the same time
        spans = sorted((r.start_time, r.end_time) for r in final if r.start_time and r.end_time)
        assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), spans
        # mcn's database: one succeeded run row per flow run, each source's clips recorded once
        with session() as db:
            rows = db.exec(select(RunRecord)).all()
            assert sorted(str(r.flow_run_id) for r in rows) == sorted(str(i) for i in ids)
            assert {r.status for r in rows} == {"succeeded"}
            sources = db.exec(select(SourceRecord)).all()
            assert sorted(s.uri for s in sources) == sorted(str(v) for v in videos)
            for source in sources:
                clips = db.exec(select(ClipRecord).where(ClipRecord.source_id == source.id)).all()
                assert clips and len({c.run_id for c in clips}) == 1, source.uri
                assert len({(c.source_start, c.source_end) for c in clips}) == len(clips), source.uri
                assert all(Path(c.path).is_file() for c in clips)
        print(
            f"\ntwo workers: server on Postgres up after {server_up:.0f} s, {RUNS} runs done "
            f"{runs_done - runs_submitted:.0f} s after submission, {aborted} racing submissions aborted, "
            f"runs per worker {[len(e) for e in executed]}, whole test {time.monotonic() - started:.0f} s"
        )

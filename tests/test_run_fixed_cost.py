"""Which Prefect API a CLI run picks (mcn.prefect_api), each case in a fresh process as the CLI runs it: the
server of a running ``mcn up``, else a temporary server started at once and gone when the command ends;
``PREFECT_API_URL`` untouched. The timings are in bench/bench_run_fixed_cost.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PICK = """
import json, os, sys
from pathlib import Path
from mcn.prefect_api import prefect_api_for_run
api, server = prefect_api_for_run(Path(sys.argv[1]))
print(json.dumps({"url": api.url, "source": api.source, "env": os.environ.get("PREFECT_API_URL"),
                  "pid": server.process.pid if server else None, "prefect": "prefect" in sys.modules}))
"""


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()


def _pick(data_dir: Path, *, killed: bool = False, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_URL")}
    ending = "\nimport signal; sys.stdout.flush(); os.kill(os.getpid(), signal.SIGKILL)\n" if killed else ""
    done = subprocess.run(
        [sys.executable, "-c", PICK + ending, str(data_dir)],
        env=clean | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == (-9 if killed else 0), done.stderr
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_running_mcn_up_server_is_used_without_starting_prefect(tmp_path: Path, health_api: str) -> None:
    (tmp_path / "up.json").write_text(json.dumps({"pid": os.getpid(), "prefect_api": health_api}))
    answer = _pick(tmp_path)
    assert answer == {"url": health_api, "source": "mcn up", "env": health_api, "pid": None, "prefect": False}


def test_prefect_api_url_in_the_environment_wins(tmp_path: Path, health_api: str) -> None:
    (tmp_path / "up.json").write_text(json.dumps({"pid": os.getpid(), "prefect_api": health_api}))
    answer = _pick(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert answer["source"] == "env" and answer["env"] == "http://127.0.0.1:9/api" and answer["pid"] is None


@pytest.mark.parametrize("killed", [False, True], ids=["exit", "sigkill"])
def test_a_stale_up_file_starts_a_temporary_server_that_ends_with_the_command(
    tmp_path: Path, health_api: str, killed: bool
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "up.json").write_text(json.dumps({"pid": dead.pid, "prefect_api": health_api}))
    answer = _pick(tmp_path, killed=killed)
    assert answer["source"] == "temporary" and answer["pid"] is not None
    assert answer["env"] == answer["url"] and str(answer["url"]).startswith("http://127.0.0.1:")
    assert str(answer["url"]) != health_api
    pid = int(str(answer["pid"]))
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:  # stopped at exit, or by PR_SET_PDEATHSIG when killed
        time.sleep(0.2)
    assert not _alive(pid)


def test_a_detached_sweep_child_never_inherits_the_temporary_server_it_would_outlive() -> None:
    from mcn.prefect_api import TEMPORARY_API_ENV
    from mcn.runs import detached_child_env

    url = "http://127.0.0.1:50123/api"
    env = detached_child_env({"PREFECT_API_URL": url, TEMPORARY_API_ENV: url, "PATH": "/bin"})
    assert "PREFECT_API_URL" not in env and TEMPORARY_API_ENV not in env and env["PATH"] == "/bin"
    # a server the operator set (or mcn up's) stays
    kept = detached_child_env({"PREFECT_API_URL": "http://10.0.0.5:4200/api", TEMPORARY_API_ENV: url})
    assert kept["PREFECT_API_URL"] == "http://10.0.0.5:4200/api"
    assert detached_child_env({"PREFECT_API_URL": url})["PREFECT_API_URL"] == url

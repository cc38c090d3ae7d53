"""Which Prefect API a CLI run picks (mcn.prefect_api), each case in a fresh process as the CLI runs it:
``PREFECT_API_URL``, else the server of a running ``mcn up``, else none (the run goes without Prefect, which is
never imported). The timings are in bench/bench_run_fixed_cost.py; the run without a server end to end is in
tests/test_cli.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PICK = """
import json, os, sys
from pathlib import Path
from mcn.prefect_api import prefect_api_for_run
api = prefect_api_for_run(Path(sys.argv[1]))
print(json.dumps({"url": api.url, "source": api.source, "env": os.environ.get("PREFECT_API_URL"),
                  "recorded": api.recorded, "prefect": "prefect" in sys.modules}))
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


def _pick(data_dir: Path, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_URL")}
    done = subprocess.run(
        [sys.executable, "-c", PICK, str(data_dir)],
        env=clean | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_a_running_mcn_up_server_is_used_without_starting_prefect(tmp_path: Path, health_api: str) -> None:
    (tmp_path / "up.json").write_text(json.dumps({"pid": os.getpid(), "prefect_api": health_api}))
    answer = _pick(tmp_path)
    assert answer == {"url": health_api, "source": "mcn up", "env": health_api, "recorded": True, "prefect": False}


def test_prefect_api_url_in_the_environment_wins(tmp_path: Path, health_api: str) -> None:
    (tmp_path / "up.json").write_text(json.dumps({"pid": os.getpid(), "prefect_api": health_api}))
    answer = _pick(tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert answer["source"] == "env" and answer["env"] == "http://127.0.0.1:9/api" and answer["recorded"] is True


@pytest.mark.parametrize("up", ["none", "dead process", "silent api"])
def test_without_an_api_the_run_goes_without_prefect(tmp_path: Path, health_api: str, up: str) -> None:
    """No up.json, one whose process died, or one whose API does not answer: no server is started, nothing is
    exported, Prefect is not imported."""
    if up == "dead process":
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (tmp_path / "up.json").write_text(json.dumps({"pid": dead.pid, "prefect_api": health_api}))
    elif up == "silent api":  # nothing listens on port 9
        (tmp_path / "up.json").write_text(json.dumps({"pid": os.getpid(), "prefect_api": "http://127.0.0.1:9/api"}))
    answer = _pick(tmp_path)
    assert answer == {"url": None, "source": "none", "env": None, "recorded": False, "prefect": False}

"""Run ``mcn sandbox serve`` as a separate process on a free loopback port (demo, multi-process tests, benchmarks).

A separate process keeps the platform's request handling off the caller's GIL, the way a real platform is
elsewhere; ``sandbox.server.serve_in_thread`` is the in-process alternative for light tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def spawn_sandbox(
    data_dir: Path, admin_token: str | None, *options: str, log: Path | None = None, startup_timeout: float = 90.0
) -> Iterator[str]:
    """Serve the sandbox from a child process while the block runs; yields its base URL.

    ``options`` are extra ``mcn sandbox serve`` flags (``--clock manual``, ``--min-interval 0``, ...). The admin
    token travels in the environment, never on the command line; ``None`` lets the server generate one and print
    it (to ``log``). Output goes to ``log`` (default: discarded).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MCN_SANDBOX_ADMIN_TOKEN"}
    if admin_token is not None:
        env["MCN_SANDBOX_ADMIN_TOKEN"] = admin_token
    command = [sys.executable, "-m", "sandbox", "serve", "--port", str(port), "--data-dir", str(data_dir), *options]
    sink = log.open("w") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    finally:
        if log:
            sink.close()  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                detail = log.read_text()[-500:] if log else f"exit code {proc.returncode}"
                raise RuntimeError(f"sandbox server exited at start: {detail}")
            try:
                httpx.get(f"{url}/login", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sandbox on port {port} did not start in {startup_timeout:g} s") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

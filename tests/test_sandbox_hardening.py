"""The sandbox under hostile clients and late commits: a client that hangs up mid-upload, the idempotency key on
publish, and the late-commit fault (a publish held past the client's timeout and committed afterwards).

Real sandbox processes and servers over real sockets; real generated videos.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from sandbox.process import spawn_sandbox
from tests.sandbox_support import ADMIN_TOKEN, bearer, make_video, new_account


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("videos") / "life-1.mp4", 1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A sandbox in its own process (manual clock, no spacing) and the file its log goes to."""
    log = tmp_path / "sandbox.log"
    with spawn_sandbox(tmp_path / "sandbox", ADMIN_TOKEN, "--clock", "manual", "--min-interval", "0", log=log) as url:
        yield url, log


def _wait_for(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_client_that_hangs_up_mid_upload_is_one_warning_not_a_traceback(served: tuple[str, Path], clip: Path) -> None:
    url, log = served
    data = clip.read_bytes()
    with httpx.Client(base_url=url, timeout=10) as client:
        account = new_account(client, "hangup")
        token = account["api_token"]
        init = client.post("/api/v1/video/upload/init", json={"file_size": len(data)}, headers=bearer(token)).json()
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port)) as sock:
            head = (
                f"PUT {init['upload_url']} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: video/mp4\r\nContent-Length: {len(data)}\r\n\r\n"
            )
            sock.sendall(head.encode() + data[: len(data) // 3])
            time.sleep(0.2)  # the server is reading the body when the client goes
        assert _wait_for(lambda: "client went away" in log.read_text(), 10), log.read_text()[-2000:]
        text = log.read_text()
        assert "Traceback" not in text and "unexpected error" not in text, text[-3000:]
        assert text.count("client went away") == 1

        publish_body = {"upload_id": init["upload_id"], "title": "好物分享", "is_aigc": True}
        early = client.post("/api/v1/video/publish", json=publish_body, headers=bearer(token))
        assert early.status_code == 409 and early.json()["error"] == "upload_incomplete"
        # the upload stays usable: sending the whole body again completes it
        again = client.put(init["upload_url"], content=data, headers=bearer(token))
        assert again.status_code == 200 and again.json()["complete"] is True
        assert client.post("/api/v1/video/publish", json=publish_body, headers=bearer(token)).status_code == 200

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


# -- the idempotency key on publish -----------------------------------------------------------------------------


def _upload(client: httpx.Client, token: str, video: Path) -> str:
    data = video.read_bytes()
    init = client.post("/api/v1/video/upload/init", json={"file_size": len(data)}, headers=bearer(token))
    assert init.status_code == 200, init.text
    put = client.put(init.json()["upload_url"], content=data, headers=bearer(token))
    assert put.status_code == 200 and put.json()["complete"], put.text
    return str(init.json()["upload_id"])


def _publish(
    client: httpx.Client, token: str, video: Path, key: str | None, timeout: float = 10, **fields: Any
) -> httpx.Response:
    headers = {**bearer(token), **({"Idempotency-Key": key} if key is not None else {})}
    body = {"upload_id": _upload(client, token, video), "title": "好物分享", "is_aigc": True, **fields}
    return client.post("/api/v1/video/publish", json=body, headers=headers, timeout=timeout)


def _admin(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    answer = client.request(method, path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_publish_sent_again_with_its_idempotency_key_answers_the_first_post(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = served
    first_video, other_video = make_video(tmp_path / "a.mp4", 11), make_video(tmp_path / "b.mp4", 12)
    with httpx.Client(base_url=url, timeout=10) as client:
        ann, bob = new_account(client, "ann_key"), new_account(client, "bob_key")
        first = _publish(client, ann["api_token"], first_video, "key-1", external_info="mcn-one")
        assert first.status_code == 200 and "idempotent-replayed" not in first.headers
        # the same key again, with a new upload of the same file (what a retry after a lost answer sends)
        again = _publish(client, ann["api_token"], first_video, "key-1", external_info="mcn-one")
        assert again.status_code == 200, again.text
        assert again.json()["post_id"] == first.json()["post_id"]
        assert again.headers["idempotent-replayed"] == "true"
        # keys are per account: bob's key-1 is a post of its own
        bobs = _publish(client, bob["api_token"], other_video, "key-1")
        assert bobs.status_code == 200 and bobs.json()["post_id"] != first.json()["post_id"]
        # a refused publish keeps no key: the same key can publish once the request is right
        refused = _publish(client, ann["api_token"], other_video, "key-2", is_aigc=False)
        assert refused.status_code == 400, refused.text
        fixed = _publish(client, ann["api_token"], make_video(tmp_path / "c.mp4", 13), "key-2")
        assert fixed.status_code == 200 and fixed.json()["post_id"] != first.json()["post_id"]
        bad = _publish(client, ann["api_token"], other_video, "has a space")
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_idempotency_key"
        handles = [p["handle"] for p in _admin(client, "GET", "/api/admin/posts")["posts"]]
        assert sorted(handles) == ["ann_key", "ann_key", "bob_key"]


# -- the late-commit fault ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("keyed", [True, False], ids=["with-key", "without-key"])
def test_a_late_commit_lands_after_the_client_gave_up(served: tuple[str, Path], clip: Path, keyed: bool) -> None:
    """The fault holds a publish past the client's timeout and commits it afterwards; with the key the retry and
    the late commit make one post, without it two (the duplicate checks are off, as on a platform without them)."""
    url, log = served
    key = "late-key-1" if keyed else None
    with httpx.Client(base_url=url, timeout=10) as client:
        _admin(client, "PATCH", "/api/admin/rules", json={"duplicate_checks": False})
        token = new_account(client, "late")["api_token"]
        _admin(client, "PATCH", "/api/admin/faults", json={"late_commit_rate": 1.0, "late_commit_seconds": 1.5})
        with pytest.raises(httpx.ReadTimeout):
            _publish(client, token, clip, key, external_info="mcn-late", timeout=0.5)
        assert _admin(client, "GET", "/api/admin/faults/injected")["late_commit_held"] == 1
        assert _admin(client, "GET", "/api/admin/posts")["posts"] == [], "held: nothing committed yet"
        _admin(client, "PATCH", "/api/admin/faults", json={"late_commit_rate": 0.0})
        retry = _publish(client, token, clip, key, external_info="mcn-late")  # the retry overtakes the held one
        assert retry.status_code == 200, retry.text
        assert _wait_for(
            lambda: _admin(client, "GET", "/api/admin/faults/injected")["late_commit_released"] == 1, 10
        ), log.read_text()[-2000:]
        posts = _admin(client, "GET", "/api/admin/posts")["posts"]
        injected = _admin(client, "GET", "/api/admin/faults/injected")
    assert [p["external_info"] for p in posts] == ["mcn-late"] * (1 if keyed else 2)
    assert posts[0]["post_id"] == retry.json()["post_id"]
    assert injected == {"late_commit_held": 1, "late_commit_released": 1, "late_commit_committed": 1}
    assert "Traceback" not in log.read_text()

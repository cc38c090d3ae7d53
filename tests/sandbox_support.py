"""Helpers for the sandbox tests: tiny generated videos, a configured platform, and the three-step API upload.

Videos come from ffmpeg's lavfi sources through ``clipper.ffmpeg``: "different" videos are different patterns
(``life`` with different seeds draws unrelated random boards; ``testsrc``/``mandelbrot`` are fixed pictures);
a near-duplicate is the same video re-encoded at another bitrate.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from clipper.ffmpeg import Command, Input, Output, run
from sandbox.config import Faults, MarketParams, Rules, SandboxConfig

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
_X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


def make_video(
    path: Path, pattern: str | int, bitrate: str = "150k", seconds: float = 1.0, size: str = "96x160"
) -> Path:
    """A tiny H.264 mp4 of a lavfi pattern; an int means ``life`` with that seed (a distinct random board)."""
    if isinstance(pattern, int):
        spec = f"life=seed={pattern}:ratio=0.35:mold=0:size={size}:rate=10"
    else:
        spec = pattern + (":" if "=" in pattern else "=") + f"size={size}:rate=10"
    command = Command(
        inputs=(Input(spec, options=("-f", "lavfi"), duration=seconds),),
        outputs=(Output(str(path), options=(*_X264, "-b:v", bitrate)),),
    )
    run(command, subject=str(path))
    return path


def reencode(source: Path, path: Path, bitrate: str) -> Path:
    """The same video re-encoded at another bitrate (a near-duplicate with a different sha256)."""
    command = Command(inputs=(Input(str(source)),), outputs=(Output(str(path), options=(*_X264, "-b:v", bitrate)),))
    run(command, subject=str(path))
    return path


def sandbox_config(
    data_dir: Path,
    seed: int = 7,
    rules: Rules | None = None,
    faults: Faults | None = None,
    market: MarketParams | None = None,
) -> SandboxConfig:
    """A manual-clock sandbox config in ``data_dir`` with the test admin token."""
    return SandboxConfig(
        data_dir=data_dir,
        admin_token=ADMIN_TOKEN,
        seed=seed,
        clock_mode="manual",
        rules=rules or Rules(),
        faults=faults or Faults(),
        market=market or replace(MarketParams()),
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_account(client: httpx.Client | Any, handle: str | None = None) -> dict[str, Any]:
    """Create an account through the admin API; returns its handle, password and token."""
    body = {"handle": handle} if handle else {}
    response = client.post("/api/admin/accounts", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    return dict(response.json())


def new_product(client: httpx.Client | Any, product_id: str, price: float = 99.0, rate: float = 0.2) -> dict[str, Any]:
    response = client.post(
        "/api/admin/products",
        headers=ADMIN,
        json={"product_id": product_id, "name": f"商品 {product_id}", "price": price, "commission_rate": rate},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def upload(client: httpx.Client | Any, token: str, video: Path) -> str:
    """Steps 1 and 2 of the API upload; returns the upload id."""
    data = video.read_bytes()
    init = client.post("/api/v1/video/upload/init", json={"file_size": len(data)}, headers=bearer(token))
    assert init.status_code == 200, init.text
    put = client.put(init.json()["upload_url"], content=data, headers=bearer(token))
    assert put.status_code == 200, put.text
    assert put.json()["complete"] is True
    return str(init.json()["upload_id"])


def publish(client: httpx.Client | Any, token: str, video: Path, **fields: Any) -> httpx.Response:
    """Upload ``video`` and publish it with ``fields`` (title and the AI declaration default to valid values)."""
    upload_id = upload(client, token, video)
    body = {"upload_id": upload_id, "title": "好物分享", "is_aigc": True, **fields}
    return client.post("/api/v1/video/publish", json=body, headers=bearer(token))


def advance(client: httpx.Client | Any, seconds: float) -> None:
    response = client.post("/api/admin/clock", json={"advance_seconds": seconds}, headers=ADMIN)
    assert response.status_code == 200, response.text

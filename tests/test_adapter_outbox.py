"""The outbox adapter: a post becomes a complete folder (clip + post.json with the labels and the human's upload
checklist), written atomically and found again instead of written twice."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.adapters.base import AD_DISCLOSURE, Credentials, PostPackage, PostRejected, create_adapter
from publisher.adapters.outbox import PARTIAL, OutboxAdapter
from tests.sandbox_support import make_video

NO_SECRETS = Credentials(account_id=3, secrets={})


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("outbox-clip") / "clip-001.mp4", 11)


def package(clip: Path, **fields: object) -> PostPackage:
    values: dict[str, object] = {
        "post_id": "post-0001",
        "idempotency_key": "2025-03-03/acc3/clip-001",
        "tracking_code": "mcnab12cd34ef56",
        "platform": "xiaohongshu",
        "account_id": 3,
        "account_handle": "shop.girl/01",  # a separator in a handle must not make a deeper folder
        "video_path": clip,
        "title": "这个杯子为什么卖爆了?",
        "caption": "保温一整天",
        "topics": ("好物推荐",),
        "product_id": "cup-1",
        "product_link": "https://shop.example/item/cup-1",
        "hook_style": "question",
        "ad_disclosure": AD_DISCLOSURE,
        "schedule_at": datetime(2025, 3, 4, 12, 30, tzinfo=UTC),
    }
    values.update(fields)
    return PostPackage(**values)  # type: ignore[arg-type]


def test_post_folder_has_clip_and_every_field(clip: Path, tmp_path: Path) -> None:
    outbox = OutboxAdapter(tmp_path / "outbox")
    post = package(clip)
    stages: list[str] = []
    receipt = outbox.publish(post, NO_SECRETS, progress=lambda stage, done: stages.append(stage))
    folder = tmp_path / "outbox" / "2025-03-04" / "shop.girl_01" / "post-0001"
    assert receipt.remote_id == "outbox:post-0001" and receipt.remote_url == folder.as_uri()
    assert sorted(p.name for p in folder.iterdir()) == ["clip-001.mp4", "post.json"]
    written = folder / "clip-001.mp4"
    assert written.read_bytes() == clip.read_bytes()
    assert os.stat(written).st_ino == os.stat(clip).st_ino  # a hard link, not a second copy of the render
    data = json.loads((folder / "post.json").read_text(encoding="utf-8"))
    assert data["tracking_code"] == "mcnab12cd34ef56" and data["idempotency_key"] == post.idempotency_key
    assert data["ai_label"] == post.ai_label and data["ai_generated"] is True
    assert data["ad_disclosure"] == "广告" and data["product_link"] == post.product_link
    assert data["schedule_at"] == "2025-03-04T12:30:00+00:00" and data["topics"] == ["好物推荐"]
    assert data["description"] == post.description() and data["video"] == "clip-001.mp4"
    checklist = "\n".join(data["upload_checklist"])
    for must in ("AI-generated", "内容由AI生成", "广告", str(post.product_link), "定时发布", post.tracking_code):
        assert must in checklist, must
    assert stages == ["upload", "publish"]
    assert list((tmp_path / "outbox" / PARTIAL).iterdir()) == []  # nothing half-written is left behind


def test_publish_twice_finds_the_folder_and_writes_nothing(clip: Path, tmp_path: Path) -> None:
    outbox = OutboxAdapter(tmp_path)
    post = package(clip, ad_disclosure=None, product_link=None, product_id=None, schedule_at=None)
    assert outbox.find(post, NO_SECRETS) is None
    first = outbox.publish(post, NO_SECRETS)
    manifest = outbox.post_folder(post) / "post.json"
    assert first.remote_url == manifest.parent.as_uri()
    before = manifest.stat().st_mtime_ns
    found = outbox.find(post, NO_SECRETS)
    assert found is not None and found.remote_id == first.remote_id and found.tracking_code == post.tracking_code
    again = outbox.publish(post, NO_SECRETS)
    assert again.remote_id == first.remote_id and manifest.stat().st_mtime_ns == before
    data = json.loads(manifest.read_text(encoding="utf-8"))
    assert not any("广告" in step for step in data["upload_checklist"])  # no link, no ad to tick
    assert outbox.check_session(NO_SECRETS) is True


def test_refuses_uncompliant_or_missing_clip_and_writes_nothing(clip: Path, tmp_path: Path) -> None:
    outbox = OutboxAdapter(tmp_path)
    with pytest.raises(PostRejected) as err:
        outbox.publish(package(clip, ad_disclosure=None), NO_SECRETS)
    assert err.value.code == "compliance" and "广告" in str(err.value)
    with pytest.raises(PostRejected) as missing:
        outbox.publish(package(tmp_path / "gone.mp4"), NO_SECRETS)
    assert missing.value.code == "video_missing"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_default_folder_is_in_the_data_dir(data_dir: Path) -> None:
    outbox = create_adapter("outbox")
    assert isinstance(outbox, OutboxAdapter) and outbox.folder == data_dir.resolve() / "outbox"

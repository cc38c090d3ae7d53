"""The folder "platform": a post becomes a folder a human uploads by hand (platforms without an API or browser
adapter, or accounts the operator wants to post himself).

Each post is written to ``<folder>/<YYYY-MM-DD>/<account handle>/<post_id>/`` (the date of the post's slot, UTC)
holding the clip (a hard link to the render when the file system allows, else a copy) and ``post.json``: every
field of the package, the assembled description, and the upload checklist for the human (declare AI content,
tick 广告, paste the product link, schedule). The folder is built under ``<folder>/.partial/`` and renamed into
place, so it appears complete or not at all; publishing the same post again finds it and writes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.adapters.base import (
    Credentials,
    PlatformAdapter,
    PostPackage,
    PostRejected,
    ProgressCallback,
    PublishReceipt,
    RemotePost,
    RetryableError,
    register_adapter,
    video_file,
)

MANIFEST = "post.json"
PARTIAL = ".partial"  # where folders are assembled; same file system as the outbox, so the rename is atomic
_UNSAFE = re.compile(r"[^\w.@-]+")


@register_adapter("outbox")
class OutboxAdapter(PlatformAdapter):
    """Writes each post as a folder for a human to upload; ``remote_id`` is ``outbox:<post_id>``."""

    name = "outbox"
    method = "folder"
    secret_kinds = ()

    def __init__(self, folder: Path | None = None) -> None:
        """``folder`` defaults to ``<data_dir>/outbox``."""
        if folder is None:
            from mcn.settings import get_settings

            folder = get_settings().resolved_data_dir / "outbox"
        self.folder = Path(folder).expanduser().resolve()

    def __repr__(self) -> str:
        return f"OutboxAdapter(folder={str(self.folder)!r})"

    def publish(
        self, post: PostPackage, credentials: Credentials, progress: ProgressCallback | None = None
    ) -> PublishReceipt:
        """Write the post's folder (or find the one already written) and return its receipt."""
        problem = post.compliance_problem()
        if problem:
            raise PostRejected("compliance", f"post {post.post_id}: {problem}")
        existing = self.find(post, credentials)
        if existing is not None:
            return PublishReceipt(existing.remote_id, existing.remote_url, detail="already in the outbox")
        video = video_file(post.video_path)
        target = self.post_folder(post)
        staging = self.folder / PARTIAL / f"{_safe(post.post_id)}-{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir(parents=True)
            clip = staging / _safe(video.name)
            _link_or_copy(video, clip)
            if progress:
                progress("upload", 1.0)
            _write_json(staging / MANIFEST, manifest(post, clip.name))
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(target)  # atomic on one file system; fails if the target exists
            except OSError:
                if not (target / MANIFEST).is_file():
                    raise
                # another writer finished the same post first: theirs stands
            _fsync_dir(target.parent)
        except OSError as exc:
            raise RetryableError("outbox_write_failed", f"{target}: {exc.strerror or exc}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if progress:
            progress("publish", 1.0)
        return PublishReceipt(f"outbox:{post.post_id}", target.as_uri(), detail=f"written to {target}")

    def find(self, post: PostPackage, credentials: Credentials) -> RemotePost | None:
        """The post's folder, under any slot date (the slot may have moved since it was written)."""
        pattern = f"*/{_safe(post.account_handle)}/{_safe(post.post_id)}/{MANIFEST}"
        for manifest_path in sorted(self.folder.glob(pattern)):
            if manifest_path.parts[-4].startswith("."):
                continue
            try:
                data = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            return RemotePost(
                remote_id=f"outbox:{post.post_id}",
                tracking_code=data.get("tracking_code"),
                remote_url=manifest_path.parent.as_uri(),
                published_at=_parse_time(data.get("written_at")),
            )
        return None

    def check_session(self, credentials: Credentials) -> bool:
        """A folder needs no login."""
        return True

    def post_folder(self, post: PostPackage) -> Path:
        """Where ``post`` is written: ``<folder>/<slot date>/<handle>/<post_id>``."""
        return self.folder / slot_date(post) / _safe(post.account_handle) / _safe(post.post_id)


def slot_date(post: PostPackage) -> str:
    """The post's day as ``YYYY-MM-DD`` (UTC): its scheduled time, or today for a post due now."""
    when = post.schedule_at or datetime.now(UTC)
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%d")


def manifest(post: PostPackage, clip_name: str) -> dict[str, Any]:
    """``post.json``: every field of the package, the description to paste and the human's checklist."""
    schedule = post.schedule_at.isoformat() if post.schedule_at else None
    return {
        "post_id": post.post_id,
        "idempotency_key": post.idempotency_key,
        "tracking_code": post.tracking_code,
        "platform": post.platform,
        "account_id": post.account_id,
        "account_handle": post.account_handle,
        "video": clip_name,
        "source_video": str(post.video_path),
        "title": post.title,
        "caption": post.caption,
        "topics": list(post.topics),
        "description": post.description(),
        "product_id": post.product_id,
        "product_link": post.product_link,
        "hook_style": post.hook_style,
        "ai_label": post.ai_label,
        "ai_generated": True,
        "ad_disclosure": post.ad_disclosure,
        "schedule_at": schedule,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "upload_checklist": checklist(post, clip_name),
    }


def checklist(post: PostPackage, clip_name: str) -> list[str]:
    """What the human must do on the platform, in order, for this post to be compliant and attributable."""
    steps = [
        f"Log in to {post.platform} as {post.account_handle} and upload {clip_name}.",
        f"Title: {post.title}",
        "Paste the description from this file's 'description' field (it carries the visible AI label"
        + (" and 广告" if post.ad_disclosure else "")
        + ").",
        f"Declare the content as AI-generated (内容由AI生成 / {post.ai_label}).",
    ]
    if post.ad_disclosure:
        steps.append(f"Tick the ad disclosure ({post.ad_disclosure}).")
    if post.product_link:
        steps.append(f"Add the product (购物车): paste {post.product_link}")
    elif post.product_id:
        steps.append(f"Add the product (购物车) with id {post.product_id}.")
    if post.schedule_at:
        steps.append(f"Schedule it (定时发布) for {post.schedule_at.isoformat()}.")
    steps.append(
        f"Where the platform has an external-info / remarks field, enter the tracking code {post.tracking_code}."
    )
    return steps


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _safe(name: str) -> str:
    """A path component from a handle or id: no separators, no leading dots, never empty."""
    return _UNSAFE.sub("_", name).lstrip(".")[:120] or "_"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: copy (and flush it before the rename)
        shutil.copyfile(source, target)
        with target.open("rb") as fh:
            os.fsync(fh.fileno())


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

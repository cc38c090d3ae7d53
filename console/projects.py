"""Brand projects, their recordings (received in resumable chunks) and the clips made from them.

An upload is announced with its file name and size (refused over the size limit, or when its name is not a
recording's), then its bytes arrive in chunks, each sent with the offset it starts at: a chunk at the wrong
offset is refused with the size received so far, so a browser whose upload broke asks for that size and carries
on from there. When all bytes are in, the file is probed with the clip factory's media probe (video and audio
that decode); only then is it moved into the project's folder and kept. Anything else is removed.

Access: a brand user reaches only its brand's projects, uploads and clips (anything else answers "not found",
never "forbidden", so names of other brands' projects are not disclosed); the operator reaches all.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import col, select

from clipper.errors import ClipperError
from clipper.media import probe
from clipper.products import load_products
from console.auth import ConsoleError, User
from console.tables import VERDICTS, ConsoleClipReview, ConsoleProject, ConsoleUpload
from mcn.db import session
from mcn.tables import ClipRecord, RunRecord, SourceRecord, utcnow
from publisher.review import cancel_posts_of_clip

RECORDING_SUFFIXES = (".mp4", ".mov", ".mkv", ".flv", ".ts", ".m4v", ".webm")
MAX_CHUNK = 16 * 1024**2  # one request's body; the browser sends 4 MiB


class NotFound(ConsoleError):
    """No such thing, or not this user's to see."""


@dataclass(frozen=True, slots=True)
class ClipView:
    """A clip as the pages show it."""

    id: str
    title: str
    hook: str
    duration: float
    score: float
    product_id: str | None
    path: Path
    verdict: str | None
    reviewer: str | None
    project_id: str | None = None


@dataclass(frozen=True, slots=True)
class RunView:
    """The latest clip run of an upload, from the run table."""

    status: str
    error: str | None
    clips: int


def create_project(user: User, name: str, brand: str | None = None, require_approval: bool = True) -> ConsoleProject:
    """A new project of the user's brand (the operator names the brand). Its clips are planned only once
    approved unless ``require_approval`` is off (the project page turns it on and off later)."""
    name = " ".join(name.split())
    if not name or len(name) > 80:
        raise ConsoleError("project name: give 1-80 characters")
    owner = user.brand if not user.is_operator else (brand or "").strip()
    if not owner:
        raise ConsoleError("brand: name the brand the project is for")
    with session() as db:
        project = ConsoleProject(brand=owner, name=name, created_by=user.name, require_approval=require_approval)
        db.add(project)
        db.commit()
        return project


def projects_for(user: User) -> list[ConsoleProject]:
    with session() as db:
        query = select(ConsoleProject).order_by(ConsoleProject.created_at.desc())  # type: ignore[attr-defined]
        if not user.is_operator:
            query = query.where(ConsoleProject.brand == user.brand)
        return list(db.exec(query))


def get_project(user: User, project_id: str) -> ConsoleProject:
    with session() as db:
        project = db.get(ConsoleProject, project_id)
    if project is None or not (user.is_operator or project.brand == user.brand):
        raise NotFound(f"project {project_id[:40]}: not found")
    return project


def set_require_approval(user: User, project_id: str, required: bool) -> ConsoleProject:
    """Turn the project's approval gate on or off (its brand or the operator). Off: its clips that nobody
    rejected are planned like the operator's own; rejected ones never are."""
    get_project(user, project_id)
    with session() as db:
        project = db.get(ConsoleProject, project_id)
        if project is None:
            raise NotFound(f"project {project_id[:40]}: not found")
        project.require_approval = required
        db.add(project)
        db.commit()
        db.refresh(project)
        return project


def uploads_of(project_id: str) -> list[ConsoleUpload]:
    with session() as db:
        query = select(ConsoleUpload).where(ConsoleUpload.project_id == project_id)
        return list(db.exec(query.order_by(ConsoleUpload.created_at.desc())))  # type: ignore[attr-defined]


def get_upload(user: User, upload_id: str) -> tuple[ConsoleUpload, ConsoleProject]:
    with session() as db:
        upload = db.get(ConsoleUpload, upload_id)
    if upload is None:
        raise NotFound(f"upload {upload_id[:40]}: not found")
    try:
        project = get_project(user, upload.project_id)
    except NotFound:
        raise NotFound(f"upload {upload_id[:40]}: not found") from None
    return upload, project


def _safe_name(filename: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename.replace("\\", "/")).name).strip("._") or "recording"
    return stem[-80:]


def start_upload(
    user: User, project_id: str, filename: str, size: int, products: bytes, products_name: str, root: Path, limit: int
) -> ConsoleUpload:
    """Announce a recording of ``size`` bytes with its product list (checked now, every bad line named).

    Raises:
        ConsoleError: a name that is not a recording's, a size of 0 or over ``limit``, or a bad product list (the
            message lists each bad line).
    """
    project = get_project(user, project_id)
    suffix = Path(filename).suffix.lower()
    if suffix not in RECORDING_SUFFIXES:
        raise ConsoleError(f"{filename[:80]}: not a recording ({', '.join(RECORDING_SUFFIXES)})")
    if size <= 0:
        raise ConsoleError(f"{filename[:80]}: the file is empty")
    if size > limit:
        raise ConsoleError(f"{filename[:80]}: {size} bytes is over the limit of {limit} bytes (MCN_MAX_DOWNLOAD_BYTES)")
    upload = ConsoleUpload(project_id=project.id, filename=filename[:200], size=size, path="")
    folder = root / "projects" / project.id / upload.id
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    products_path: Path | None = None
    if products.strip():
        kind = ".json" if products_name.lower().endswith(".json") else ".csv"
        products_path = folder / f"products{kind}"
        products_path.write_bytes(products)
        try:
            load_products(products_path)
        except ClipperError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ConsoleError(str(exc).replace(str(products_path), products_name or "products")) from None
    upload.path = str(folder / f"{_safe_name(filename)}")
    upload.products_path = str(products_path) if products_path else None
    incoming(upload).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    incoming(upload).touch(mode=0o600)
    with session() as db:
        db.add(upload)
        db.commit()
        return upload


def incoming(upload: ConsoleUpload) -> Path:
    """Where an upload's bytes collect until they are probed (beside its final place, not in it)."""
    return Path(upload.path).parent / "incoming.part"


def append_chunk(user: User, upload_id: str, offset: int, data: bytes) -> ConsoleUpload:
    """Append ``data`` at ``offset``. A chunk at any other offset than the size received is refused with that
    size (:class:`OffsetMismatch`), so a resumed upload starts at the right byte.
    """
    upload, _ = get_upload(user, upload_id)
    if upload.status != "receiving":
        raise ConsoleError(f"upload {upload.id[:12]}: already {upload.status}")
    part = incoming(upload)
    received = part.stat().st_size if part.exists() else 0
    if offset != received:
        raise OffsetMismatch(received)
    if len(data) > MAX_CHUNK:
        raise ConsoleError(f"chunk of {len(data)} bytes: at most {MAX_CHUNK} per request")
    if received + len(data) > upload.size:
        raise ConsoleError(f"upload {upload.id[:12]}: more bytes than the {upload.size} announced")
    with open(part, "ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    with session() as db:
        row = db.get(ConsoleUpload, upload.id)
        assert row is not None
        row.received, row.updated_at = received + len(data), utcnow()
        db.add(row)
        db.commit()
        return row


class OffsetMismatch(ConsoleError):
    """A chunk did not start where the received bytes end; ``received`` says where to go on."""

    def __init__(self, received: int) -> None:
        super().__init__(f"chunk offset: resume at byte {received}")
        self.received = received


def finish_upload(user: User, upload_id: str) -> ConsoleUpload:
    """All bytes in: probe them; keep the recording (``stored``) or remove it (``rejected``, with the reason)."""
    upload, _ = get_upload(user, upload_id)
    if upload.status != "receiving":
        return upload
    part = incoming(upload)
    received = part.stat().st_size if part.exists() else 0
    if received != upload.size:
        raise ConsoleError(f"upload {upload.id[:12]}: {received} of {upload.size} bytes received; send the rest first")
    status, error, duration = "stored", None, None
    try:
        info = probe(part)
        duration = info.duration
    except ClipperError as exc:
        status, error = "rejected", f"{upload.filename}: {str(exc).split(': ', 1)[-1]}"
        part.unlink(missing_ok=True)
    else:
        part.rename(upload.path)
    with session() as db:
        row = db.get(ConsoleUpload, upload.id)
        assert row is not None
        row.status, row.error, row.duration, row.updated_at = status, error, duration, utcnow()
        db.add(row)
        db.commit()
        return row


def mark_submitted(upload_id: str, run_ref: str) -> None:
    with session() as db:
        row = db.get(ConsoleUpload, upload_id)
        if row is not None:
            row.status, row.run_ref, row.updated_at = "submitted", run_ref, utcnow()
            db.add(row)
            db.commit()


def mark_unsubmitted(upload_id: str, reason: str) -> None:
    """The recording is kept but its run could not be started: record why (the page shows it)."""
    with session() as db:
        row = db.get(ConsoleUpload, upload_id)
        if row is not None:
            row.error, row.updated_at = reason, utcnow()
            db.add(row)
            db.commit()


def _runs_of(path: str) -> list[RunRecord]:
    with session() as db:
        source = db.exec(select(SourceRecord).where(SourceRecord.uri == path)).first()
        if source is None:
            return []
        query = select(RunRecord).where(RunRecord.source_id == source.id)
        return list(db.exec(query.order_by(RunRecord.started_at.desc())))  # type: ignore[attr-defined]


def run_of(upload: ConsoleUpload) -> RunView | None:
    """The latest run made from the upload's recording (its path is the run's source)."""
    runs = _runs_of(upload.path)
    if not runs:
        return None
    run = runs[0]
    return RunView(run.status, run.error, int((run.stats or {}).get("clips") or 0))


def clips_of(upload: ConsoleUpload) -> list[ClipView]:
    runs = _runs_of(upload.path)
    if not runs:
        return []
    with session() as db:
        query = select(ClipRecord).where(ClipRecord.run_id == runs[0].id).order_by(ClipRecord.rank)  # type: ignore[arg-type]
        return _views(db, list(db.exec(query)), {runs[0].id: runs[0]}, upload.project_id)


def _views(db: object, clips: list[ClipRecord], runs: dict[str, RunRecord], project_id: str | None) -> list[ClipView]:
    from sqlmodel import Session

    assert isinstance(db, Session)
    reviews = {
        r.clip_id: r
        for r in db.exec(
            select(ConsoleClipReview).where(ConsoleClipReview.clip_id.in_([c.id for c in clips]))  # type: ignore[attr-defined]
        )
    }
    views = []
    for clip in clips:
        review = reviews.get(clip.id)
        run = runs.get(clip.run_id) or db.get(RunRecord, clip.run_id)
        views.append(
            ClipView(
                clip.id,
                clip.title,
                clip.hook,
                clip.duration,
                clip.score,
                clip.product_id,
                clip_file(clip, run),
                review.verdict if review else None,
                review.reviewer if review else None,
                project_id,
            )
        )
    return views


def clip_file(clip: ClipRecord, run: RunRecord | None) -> Path:
    """The clip's video file: its stored path, relative ones under the run's output folder."""
    path = Path(clip.path)
    if not path.is_absolute() and run is not None and (run.stats or {}).get("out_dir"):
        path = Path(run.stats["out_dir"]) / path
    return path


def recent_clips(limit: int = 60) -> list[ClipView]:
    """The newest clips of every run (the operator's gallery)."""
    with session() as db:
        query = select(ClipRecord).order_by(col(ClipRecord.created_at).desc(), col(ClipRecord.rank)).limit(limit)
        return _views(db, list(db.exec(query)), {}, None)


def get_clip(user: User, clip_id: str) -> ClipView:
    """A clip the user may see: the operator any; a brand only clips of its projects' recordings."""
    with session() as db:
        clip = db.get(ClipRecord, clip_id)
        if clip is None:
            raise NotFound(f"clip {clip_id[:60]}: not found")
        run = db.get(RunRecord, clip.run_id)
        source = db.get(SourceRecord, clip.source_id)
        upload = (
            db.exec(select(ConsoleUpload).where(ConsoleUpload.path == source.uri)).first()
            if source is not None
            else None
        )
        project = db.get(ConsoleProject, upload.project_id) if upload is not None else None
        if not user.is_operator and (project is None or project.brand != user.brand):
            raise NotFound(f"clip {clip_id[:60]}: not found")
        return _views(db, [clip], {clip.run_id: run} if run else {}, project.id if project else None)[0]


def review_clip(user: User, clip_id: str, verdict: str, note: str = "") -> ClipView:
    """Record ``user``'s verdict (approved or rejected) on a clip they may see; the latest verdict counts.

    The posting plan reads it (:mod:`publisher.plan`'s approval gate): an approved clip may be planned, a
    rejected one never is, and rejecting takes the clip's posts that are still ``planned`` with it (cancelled with
    the reason, in the same transaction as the verdict)."""
    if verdict not in VERDICTS:
        raise ConsoleError(f"verdict {verdict[:20]!r}: must be approved or rejected")
    get_clip(user, clip_id)
    record_verdict(clip_id, verdict, user.name, note)
    return get_clip(user, clip_id)


def record_verdict(clip_id: str, verdict: str, reviewer: str, note: str = "") -> int:
    """Store ``reviewer``'s verdict on a clip (no access check: the console's pages and the operator's terminal
    review call it); a rejection cancels the clip's posts still ``planned``, in the same transaction. Returns how
    many posts it cancelled."""
    note = note.strip()[:500]
    cancelled = 0
    with session() as db:
        row = db.get(ConsoleClipReview, clip_id) or ConsoleClipReview(clip_id=clip_id, verdict=verdict, reviewer="")
        row.verdict, row.reviewer, row.note, row.at = verdict, reviewer, note, utcnow()
        db.add(row)
        db.flush()
        if verdict == "rejected":
            cancelled = cancel_posts_of_clip(db.connection(), clip_id, reviewer, note)
        db.commit()
    return cancelled


def edit_clip(user: User, clip_id: str, title: str, hook: str) -> ClipView:
    """The operator's edit of a clip's title and hook (what a planned post of it will carry from now on)."""
    if not user.is_operator:
        raise NotFound(f"clip {clip_id[:60]}: not found")
    title, hook = " ".join(title.split()), " ".join(hook.split())
    if not title or len(title) > 100:
        raise ConsoleError("title: give 1-100 characters")
    if len(hook) > 100:
        raise ConsoleError("hook: at most 100 characters")
    with session() as db:
        clip = db.get(ClipRecord, clip_id)
        if clip is None:
            raise NotFound(f"clip {clip_id[:60]}: not found")
        clip.title, clip.hook = title, hook
        db.add(clip)
        db.commit()
    return get_clip(user, clip_id)

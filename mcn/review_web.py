"""Reviewing clips in a browser: ``mcn clips review DIR --web`` serves one server-rendered page on 127.0.0.1.

The page lists the folder's clips best first, each with an HTML5 video player (files served with range requests,
so the player can seek), the clip's sentences with a kind selector each, good/bad with a reason, the clip's
first/last sentence, and a save button that stores the source's labels (``mcn.labels_store``).

Safety, since the page writes to the database and reads files: the server binds loopback only and answers only
requests whose ``Host`` is a loopback name (no DNS rebinding); every POST must carry the per-process random token
(form field ``csrf_token`` or header ``X-CSRF-Token``) and, when the browser sends one, a loopback ``Origin``; media
is served only for files ``clips.json`` lists, resolved inside the folder (no path traversal). Bad input is
answered with one line naming the field.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from clipper.errors import ClipperError
from clipper.labels import SENTENCE_KINDS, ClipVerdict, SourceLabels
from mcn.labels_store import (
    ClipInfo,
    ClipsFolder,
    ReviewError,
    labels_for_folder,
    save_labels,
    stamped,
    verdict_for,
    with_kind,
    with_verdict,
)
from mcn.review import CONTEXT_SENTENCES, ClipDecision

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "ReviewApp", "create_review_app", "is_loopback_host"]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine's loopback."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class ReviewApp:
    """The app with what a caller (the CLI, a test) needs to know about it."""

    app: FastAPI
    csrf_token: str


def create_review_app(
    folder: ClipsFolder,
    annotator: str,
    load: Callable[[ClipsFolder], SourceLabels] | None = None,
    save: Callable[[SourceLabels], SourceLabels] = save_labels,
    decide: ClipDecision | None = None,
) -> ReviewApp:
    """Build the review page for ``folder``; labels are read with ``load`` (stored, else from the folder) and
    written with ``save``. ``decide`` (:func:`mcn.review.posting_verdicts`) turns a good/bad verdict into the
    posting plan's approval or rejection, as the terminal review does; its line is shown with the save notice.
    A new random CSRF token is drawn for each app."""
    token = secrets.token_urlsafe(32)
    read_labels = load or (lambda f: labels_for_folder(f, annotator))
    lock = threading.Lock()  # one save at a time: read-modify-write of the source's labels
    media = {_media_key(c.path): c for c in folder.clips}
    posting: dict[str, str] = {}  # clip id -> what its last verdict did to posting (shown with the save notice)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def loopback_only(request: Request, call_next: Callable[[Request], Any]) -> Response:
        host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
        if not is_loopback_host(host):
            return _error(f"Host {host or '(none)'!r}: this page answers on 127.0.0.1 only", 400)
        if request.method == "POST":
            origin = request.headers.get("origin")
            if origin and origin != "null" and not is_loopback_host(urlsplit(origin).hostname or ""):
                return _error(f"Origin {origin!r}: cross-site requests are refused", 403)
        response: Response = await call_next(request)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        reason = "not found" if exc.status_code == 404 else str(exc.detail)
        return _error(f"{request.method} {request.url.path}: {reason}", exc.status_code)

    @app.get("/", response_class=HTMLResponse)
    def page(saved: str | None = None) -> Response:
        try:
            labels = read_labels(folder)
        except ClipperError as err:
            return _error(str(err), 409)
        notice = saved if saved in {c.id for c in folder.clips} else None
        return HTMLResponse(_render_page(folder, labels, token, notice, posting.get(notice or "", "")))

    @app.get("/media/{path:path}")
    def clip_media(path: str) -> Response:
        clip = media.get(_media_key(path))
        if clip is None:
            return _error(f"{path}: not a clip of {folder.path}", 404)
        try:
            target = folder.media_path(clip)
        except ReviewError as err:
            return _error(str(err), 404)
        # FileResponse answers Range requests with 206 partial content, which the video element needs to seek
        return FileResponse(target, media_type="video/mp4", headers={"Cache-Control": "no-store"})

    @app.post("/save")
    async def save_clip(request: Request) -> Response:
        form = await request.form()
        given = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return _error(f"{CSRF_FIELD}: missing or wrong (reload the page)", 403)
        try:
            with lock:
                clip_id = apply_form(folder, read_labels(folder), form, annotator, save)
                verdict = str(form.get("verdict") or "")
                if decide is not None and verdict in ("good", "bad"):
                    posting[clip_id] = decide(clip_id, verdict == "good", str(form.get("reason") or "").strip())
        except ClipperError as err:
            return _error(str(err), 400)
        return RedirectResponse(f"/?saved={clip_id}#clip-{clip_id}", status_code=303)

    return ReviewApp(app, token)


def apply_form(
    folder: ClipsFolder,
    labels: SourceLabels,
    form: FormData | Mapping[str, Any],
    annotator: str,
    save: Callable[[SourceLabels], SourceLabels],
) -> str:
    """Apply one clip's form (kinds of its sentences, verdict, reason, boundaries) to ``labels`` and save them.
    Returns the clip's id.

    Raises:
        ReviewError: an unknown clip, a sentence index or kind that does not exist, non-numeric boundaries, a bad
            clip without a reason, or new boundaries on a clip that is neither good nor bad.
    """
    clip = folder.clip(str(form.get("clip_id") or ""))
    for name, value in form.items():
        if not name.startswith("kind-"):
            continue
        index = _form_int(form, name)
        if not isinstance(value, str) or value not in SENTENCE_KINDS:
            raise ReviewError(name, f"{value!r} is not one of {', '.join(SENTENCE_KINDS)}")
        labels = with_kind(labels, index, value)
    first, last = _form_int(form, "first"), _form_int(form, "last")
    verdict = str(form.get("verdict") or "")
    reason = str(form.get("reason") or "").strip()
    held = verdict_for(labels, clip.id)
    if verdict in ("good", "bad"):
        labels = with_verdict(labels, ClipVerdict(clip.id, first, last, verdict == "good", reason))
    elif verdict:
        raise ReviewError("verdict", f"{verdict!r} must be good or bad")
    elif held is None and (first, last) != (clip.first_sentence, clip.last_sentence):
        raise ReviewError(f"clip {clip.id}", "mark it good or bad to save new boundaries")
    save(stamped(labels, annotator))
    return clip.id


def _form_int(form: FormData | Mapping[str, Any], name: str) -> int:
    raw = form.get(name) if not name.startswith("kind-") else name.removeprefix("kind-")
    try:
        return int(str(raw))
    except ValueError:
        raise ReviewError(name, f"{raw!r} must be a whole number") from None


def _media_key(path: str) -> str:
    # clips.json paths are relative and may be written with ./ or backslashes on another machine
    return Path(path.replace("\\", "/")).as_posix().removeprefix("./")


def _error(message: str, status: int) -> HTMLResponse:
    """A one-line error page (the same line a terminal would print)."""
    return HTMLResponse(_templates.get_template("review_error.html").render(message=message), status_code=status)


@dataclass(frozen=True, slots=True)
class _Row:
    index: int
    start: float
    end: float
    text: str
    kind: str
    inside: bool


def _render_page(folder: ClipsFolder, labels: SourceLabels, token: str, saved: str | None, posting: str = "") -> str:
    cards = []
    for clip in folder.clips:
        verdict = verdict_for(labels, clip.id)
        first, last = (
            (verdict.first_sentence, verdict.last_sentence) if verdict else (clip.first_sentence, clip.last_sentence)
        )
        rows = _rows(labels, first, last)
        cards.append({"clip": clip, "verdict": verdict, "first": first, "last": last, "rows": rows})
    return _templates.get_template("review.html").render(
        folder=folder,
        labels=labels,
        cards=cards,
        kinds=SENTENCE_KINDS,
        csrf_field=CSRF_FIELD,
        csrf_token=token,
        saved=saved,
        posting=posting,
        media_url=_media_url,
    )


def _rows(labels: SourceLabels, first: int, last: int) -> list[_Row]:
    low = max(first - CONTEXT_SENTENCES, 0)
    high = min(last + CONTEXT_SENTENCES, len(labels.sentences) - 1)
    shown = labels.sentences[low : high + 1]
    return [_Row(s.index, s.start, s.end, s.text, s.kind, first <= s.index <= last) for s in shown]


def _media_url(clip: ClipInfo) -> str:
    from urllib.parse import quote

    return "/media/" + quote(_media_key(clip.path), safe="/")

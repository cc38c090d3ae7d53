"""The console (``mcn console serve``): auth and CSRF refusals, the resumable upload protocol, a brand's whole
flow in real Chromium (upload a spoken recording with its products, the real make-clips flow runs, the clip
plays, the brand approves it) and the operator's calendar, failed posts and accounts pages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select, update
from sqlmodel import select as select_rows

from clipper.types import Product
from console.app import ConsoleApp, ConsoleOptions, create_console_app
from console.auth import SESSION_COOKIE, add_user
from console.runs import ClipJob, RunSubmitter, ThreadSubmitter
from console.tables import ConsoleClipReview, ConsoleUpload
from mcn.browser import launch_chromium
from mcn.console_cli import make_in_process
from mcn.db import get_engine, session
from mcn.samples import ScriptLine, ScriptSegment, StreamScript, generate_stream
from mcn.tables import AccountRecord, PostEvent, PostRecord
from sandbox.server import serve_in_thread
from tests.helpers import lavfi_video
from tests.publish_support import fill_outbox

PASSWORD = "correct horse battery"
JACKET = Product("p-jacket", "rain jacket", ("jacket",), 79.0, 0.2, "https://shop.example/p/jacket")
SHORT_STREAM = StreamScript(
    language="en",
    intro=(ScriptLine("Hello everyone, welcome to the live room!", "greeting"),),
    segments=(
        ScriptSegment(
            JACKET,
            (
                ScriptLine("First up is our rain jacket.", "transition"),
                ScriptLine("This jacket is fully waterproof, so you stay dry even in heavy rain.", "selling"),
                ScriptLine("The fabric is breathable, which means you will not sweat on a long hike.", "selling"),
                ScriptLine("It folds into its own pocket and weighs only three hundred grams.", "selling"),
                ScriptLine("The seams are taped and the zippers are sealed against water.", "selling"),
            ),
        ),
    ),
)


class RecordingSubmitter(RunSubmitter):
    """Keeps the jobs it is given (for the protocol tests, where no clips need to be made)."""

    def __init__(self) -> None:
        self.jobs: list[ClipJob] = []

    def submit(self, job: ClipJob) -> str:
        self.jobs.append(job)
        return f"recorded-{len(self.jobs)}"


@pytest.fixture
def users(data_dir: Path) -> None:
    del data_dir
    add_user("ops", "operator", PASSWORD)
    add_user("ann", "brand", PASSWORD, brand="acme")
    add_user("gus", "brand", PASSWORD, brand="globex")


def _console(data_dir: Path, submitter: RunSubmitter, **options: Any) -> ConsoleApp:
    settings = ConsoleOptions(data_dir=data_dir, max_upload_bytes=options.pop("limit", 20 * 1024**2))
    return create_console_app(replace(settings, **options), submitter, b"k" * 32)


@pytest.fixture
def recorded(data_dir: Path, users: None) -> Iterator[tuple[str, RecordingSubmitter]]:
    submitter = RecordingSubmitter()
    with serve_in_thread(_console(data_dir, submitter).app) as url:
        yield url, submitter


def _login(url: str, name: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    answer = client.post("/login", data={"csrf_token": token.group(1), "name": name, "password": password, "next": "/"})
    assert answer.status_code == (303 if password == PASSWORD else 401), answer.text
    return client


def _csrf(client: httpx.Client, path: str = "/") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def _project(client: httpx.Client, name: str) -> str:
    answer = client.post("/projects", data={"csrf_token": _csrf(client), "name": name})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


def test_every_page_needs_a_login_csrf_and_the_right_brand(recorded: tuple[str, RecordingSubmitter]) -> None:
    url, _ = recorded
    anonymous = httpx.Client(base_url=url, timeout=30)
    for path in ("/", "/operator/calendar", "/operator/clips", "/operator/problems", "/operator/accounts"):
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), path
    assert anonymous.get("/uploads/x").status_code == 401
    assert anonymous.get("/healthz").json() == {"ok": True}

    # a login form without its token, a wrong password, a foreign Host, another site's Origin
    assert anonymous.post("/login", data={"name": "ann", "password": PASSWORD}).status_code == 403
    _login(url, "ann", "wrong password")
    assert anonymous.get("/login", headers={"host": "evil.example"}).status_code == 400

    ann = _login(url, "ann")
    cookie = next(c for c in ann.cookies.jar if c.name == SESSION_COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly")
    acme = _project(ann, "Spring launch")
    assert ann.post("/projects", data={"name": "no token"}).status_code == 403
    forged = ann.post("/projects", data={"csrf_token": "x" * 40, "name": "forged"})
    assert forged.status_code == 403
    cross = ann.post(
        "/projects", data={"csrf_token": _csrf(ann), "name": "cross"}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    # the login's next= stays on this site
    assert ann.get("/login?next=//evil.example/x").text.count('value="/"') == 1

    # another brand sees neither the project nor its uploads; brands never reach operator pages
    gus = _login(url, "gus")
    assert gus.get(f"/projects/{acme}").status_code == 404
    assert "Spring launch" not in gus.get("/").text
    start = gus.post(f"/projects/{acme}/uploads", data={"csrf_token": _csrf(gus), "filename": "a.mp4", "size": "10"})
    assert start.status_code == 404
    assert gus.get("/operator/calendar").status_code == 403
    assert ann.get(f"/projects/{acme}").status_code == 200

    ops = _login(url, "ops")
    assert "Spring launch" in ops.get("/").text and ops.get(f"/projects/{acme}").status_code == 200
    assert ops.get("/operator/calendar").status_code == 200

    # logging out ends the session
    assert ann.post("/logout", data={"csrf_token": _csrf(ann)}).status_code == 303
    assert ann.get("/").status_code == 303


def test_set_cookie_is_httponly_and_samesite_lax(recorded: tuple[str, RecordingSubmitter]) -> None:
    url, _ = recorded
    client = httpx.Client(base_url=url, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    answer = client.post("/login", data={"csrf_token": token.group(1), "name": "ann", "password": PASSWORD})
    header = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION_COOKIE))
    assert "httponly" in header.lower() and "samesite=lax" in header.lower()
    tampered = header.split(";")[0].split("=", 1)[1][:-2] + "xx"
    other = httpx.Client(base_url=url, timeout=30, cookies={SESSION_COOKIE: tampered})
    assert other.get("/").status_code == 303


def test_password_guessing_is_throttled_per_name(recorded: tuple[str, RecordingSubmitter]) -> None:
    url, _ = recorded
    for _ in range(5):
        _login(url, "gus", "wrong password")
    client = httpx.Client(base_url=url, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    refused = client.post("/login", data={"csrf_token": token.group(1), "name": "gus", "password": PASSWORD})
    assert refused.status_code == 429 and "too many failed logins" in refused.text
    _login(url, "ann")  # another name from the same address still gets in


def _start(client: httpx.Client, project: str, name: str, size: int, products: bytes | None) -> httpx.Response:
    files = {"products": ("products.csv", products, "text/csv")} if products is not None else None
    return client.post(
        f"/projects/{project}/uploads",
        data={"csrf_token": _csrf(client, f"/projects/{project}"), "filename": name, "size": str(size)},
        files=files,
    )


def test_upload_resumes_after_a_break_and_is_probed_before_it_is_kept(
    recorded: tuple[str, RecordingSubmitter], tmp_path: Path
) -> None:
    url, submitter = recorded
    ann = _login(url, "ann")
    project = _project(ann, "Resumable")
    token = _csrf(ann, f"/projects/{project}")
    video = lavfi_video(tmp_path / "v.mp4", "testsrc=s=320x240:r=25:d=2", "sine=f=440:d=2").read_bytes()

    bad_csv = b"id,name,price\np1,Jacket,12\np2,,5\np3,Bottle,cheap\n"
    refused = _start(ann, project, "stream.mp4", len(video), bad_csv)
    assert refused.status_code == 400
    lines = refused.json()["lines"]
    assert any("line 3" in line and "name is empty" in line for line in lines), lines
    assert any("line 4" in line for line in lines), lines
    assert _start(ann, project, "notes.txt", 10, None).status_code == 400
    assert "over the limit" in _start(ann, project, "huge.mp4", 21 * 1024**2, None).json()["error"]

    started = _start(ann, project, "stream.mp4", len(video), b"id,name,price\np1,Jacket,12\n")
    assert started.status_code == 200, started.text
    upload = started.json()["id"]
    headers = {"x-csrf-token": token}
    half = len(video) // 2
    assert ann.put(f"/uploads/{upload}?offset=0", content=video[:half], headers=headers).json()["received"] == half
    # the connection "broke": the browser asks where to go on; a chunk at the wrong offset is refused with it
    assert ann.get(f"/uploads/{upload}").json()["received"] == half
    wrong = ann.put(f"/uploads/{upload}?offset=0", content=video[half:], headers=headers)
    assert wrong.status_code == 409 and wrong.json()["received"] == half
    assert ann.put(f"/uploads/{upload}?offset={half}", content=video[half:]).status_code == 403  # no CSRF header
    early = ann.post(f"/uploads/{upload}/finish", headers=headers)
    assert early.status_code == 400 and "send the rest" in early.json()["error"]
    ann.put(f"/uploads/{upload}?offset={half}", content=video[half:], headers=headers).raise_for_status()
    too_much = ann.put(f"/uploads/{upload}?offset={len(video)}", content=b"x", headers=headers)
    assert too_much.status_code == 400
    finished = ann.post(f"/uploads/{upload}/finish", headers=headers)
    assert finished.status_code == 200 and finished.json()["status"] == "submitted"
    with session() as db:
        row = db.get(ConsoleUpload, upload)
    assert row is not None and row.status == "submitted" and Path(row.path).read_bytes() == video
    assert [job.source for job in submitter.jobs] == [row.path]
    assert submitter.jobs[0].brand == "acme" and submitter.jobs[0].products == row.products_path

    # bytes that are not a recording: refused after probing, and not kept
    junk = b"\x00not a video at all\x00" * 100
    junk_id = _start(ann, project, "fake.mp4", len(junk), None).json()["id"]
    ann.put(f"/uploads/{junk_id}?offset=0", content=junk, headers=headers).raise_for_status()
    rejected = ann.post(f"/uploads/{junk_id}/finish", headers=headers)
    assert rejected.status_code == 400 and "fake.mp4" in rejected.json()["error"]
    with session() as db:
        junk_row = db.get(ConsoleUpload, junk_id)
    assert junk_row is not None and junk_row.status == "rejected"
    assert not any(Path(junk_row.path).parent.glob("*.part")) and not Path(junk_row.path).exists()
    assert len(submitter.jobs) == 1
    # another brand cannot add bytes to it
    gus = _login(url, "gus")
    assert gus.get(f"/uploads/{upload}").status_code == 404


class UnreachableSubmitter(RunSubmitter):
    def submit(self, job: ClipJob) -> str:
        raise ConnectionError("[Errno 111] Connection refused\nmore lines")


def test_a_run_that_cannot_start_leaves_the_recording_kept_with_the_reason(
    data_dir: Path, users: None, tmp_path: Path
) -> None:
    video = lavfi_video(tmp_path / "v.mp4", "testsrc=s=160x120:r=25:d=1", "sine=f=440:d=1").read_bytes()
    with serve_in_thread(_console(data_dir, UnreachableSubmitter()).app) as url:
        ann = _login(url, "ann")
        project = _project(ann, "Offline")
        headers = {"x-csrf-token": _csrf(ann, f"/projects/{project}")}
        upload = _start(ann, project, "live.mp4", len(video), None).json()["id"]
        ann.put(f"/uploads/{upload}?offset=0", content=video, headers=headers).raise_for_status()
        answer = ann.post(f"/uploads/{upload}/finish", headers=headers)
        assert answer.status_code == 503 and "Connection refused" in answer.json()["error"]
        assert "more lines" not in answer.json()["error"]
        assert "could not be started" in ann.get(f"/projects/{project}").text
    with session() as db:
        row = db.get(ConsoleUpload, upload)
    assert row is not None and row.status == "stored" and Path(row.path).is_file()


# -- in Chromium -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


def _browser_login(browser: Browser, url: str, name: str) -> Page:
    context = browser.new_context(base_url=url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.get_by_test_id("login-name").fill(name)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("who")).to_contain_text(name)
    return page


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_stream(SHORT_STREAM, tmp_path_factory.mktemp("console-stream"), width=320, height=180)


def test_brand_uploads_a_recording_the_run_makes_a_clip_and_the_brand_approves_it(
    browser: Browser,
    prefect_server: None,
    spoken: Any,
    data_dir: Path,
    users: None,
    whisper_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mcn.settings import get_settings

    monkeypatch.setenv("MCN_WHISPER_MODEL", str(whisper_model_dir))
    get_settings.cache_clear()
    submitter = ThreadSubmitter(make_in_process)
    defaults = {"min_seconds": 6.0, "max_seconds": 30.0, "max_clips": 2, "width": 270, "height": 480}
    app = _console(data_dir, submitter, job_defaults=defaults, chunk_bytes=64 * 1024)
    with serve_in_thread(app.app) as url:
        page = _browser_login(browser, url, "ann")
        # the connection breaks after the server took the second chunk: the browser never hears back, asks the
        # server how much it has and goes on from there
        chunks: list[str] = []

        def lose_second_answer(route: Any) -> None:
            chunks.append(route.request.url)
            if len(chunks) == 2:
                route.fetch()
                route.abort()
            else:
                route.continue_()

        page.route(re.compile(r".*/uploads/[0-9a-f]+\?offset=\d+$"), lose_second_answer)
        page.get_by_test_id("project-name").fill("Rain gear live")
        page.get_by_test_id("project-create").click()
        expect(page.get_by_test_id("project-title")).to_contain_text("Rain gear live")

        # a product list with a bad line is refused with that line named
        bad = spoken.video.parent / "bad-products.csv"
        bad.write_text("id,name,price\np-jacket,rain jacket,79\np-x,,3\n", encoding="utf-8")
        page.get_by_test_id("upload-file").set_input_files(str(spoken.video))
        page.get_by_test_id("upload-products").set_input_files(str(bad))
        page.get_by_test_id("upload-submit").click()
        expect(page.get_by_test_id("upload-error").first).to_contain_text("line 3")

        page.get_by_test_id("upload-products").set_input_files(str(spoken.products_csv))
        page.get_by_test_id("upload-submit").click()
        state = page.get_by_test_id("run-state")
        expect(state).to_have_attribute("data-state", "succeeded", timeout=150_000)
        clip = page.get_by_test_id("clip").first
        expect(clip).to_be_visible()
        duration = clip.get_by_test_id("clip-video").evaluate(
            "v => new Promise(r => v.readyState >= 1 ? r(v.duration)"
            " : v.addEventListener('loadedmetadata', () => r(v.duration)))"
        )
        assert duration > 5.0
        with session() as db:
            stored = db.exec(select_rows(ConsoleUpload)).one()
        assert Path(stored.path).read_bytes() == spoken.video.read_bytes()
        offsets = [int(u.rsplit("=", 1)[1]) for u in chunks]
        assert len(offsets) >= 3 and offsets[2] == 2 * 64 * 1024, offsets  # resumed after the lost answer
        clip_id = clip.get_attribute("data-clip-id")
        clip.get_by_test_id("clip-approve").click()
        expect(page.locator(f'[data-clip-id="{clip_id}"]').get_by_test_id("clip-verdict")).to_contain_text("approved")
        page.context.close()

        with session() as db:
            review = db.get(ConsoleClipReview, clip_id)
        assert review is not None and review.verdict == "approved" and review.reviewer == "ann"

        # another brand cannot see or review the clip; the operator can, and edits its title
        gus = _login(url, "gus")
        assert gus.get(f"/clips/{clip_id}/video").status_code == 404
        assert (
            gus.post(f"/clips/{clip_id}/review", data={"csrf_token": _csrf(gus), "verdict": "rejected"}).status_code
            == 404
        )
        ops = _login(url, "ops")
        ranged = ops.get(f"/clips/{clip_id}/video", headers={"range": "bytes=0-99"})
        assert ranged.status_code == 206 and len(ranged.content) == 100
        edited = ops.post(
            f"/clips/{clip_id}/edit",
            data={"csrf_token": _csrf(ops, "/operator/clips"), "title": "Stay dry all day", "hook": "Rain? No problem"},
        )
        assert edited.status_code == 303
        assert "Stay dry all day" in ops.get("/operator/clips").text
    assert submitter.idle()


def test_runs_go_to_the_make_clips_deployment_once_prefect_has_it(
    prefect_server: None, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from flows.make_clips import make_clips
    from mcn.console_cli import AutoSubmitter, deployment_exists

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    submitter = AutoSubmitter()
    assert submitter.name == "in-process"  # no API URL: the flow runs on the console's thread
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    assert not deployment_exists()
    deployment_id = make_clips.to_deployment(name="make-clips", _sync=True).apply(_sync=True)  # type: ignore[call-arg]
    ref = None
    try:
        assert deployment_exists() and submitter.name == "prefect deployment"
        job = ClipJob(source=str(data_dir / "stream.mp4"), brand="acme", out=str(data_dir / "out"), max_clips=3)
        ref = submitter.submit(job)
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(ref))
        assert run.parameters["source"] == job.source and run.parameters["brand"] == "acme"
        assert run.parameters["max_clips"] == 3 and run.state is not None and run.state.is_scheduled()
        # the page's progress comes from the run's progress artifact (make-clips updates it in every step)
        assert submitter.progress(ref) is None
        from prefect.client.schemas.actions import ArtifactCreate

        with get_client(sync_client=True) as client:
            client.create_artifact(ArtifactCreate(type="progress", data=37.5, flow_run_id=run.id, description="render"))
        shown = submitter.progress(ref)
        assert shown is not None and shown.fraction == pytest.approx(0.375) and shown.detail == "render"
    finally:  # the Prefect test server is shared by the session: leave no deployment or scheduled run behind
        with get_client(sync_client=True) as client:
            if ref is not None:
                client.delete_flow_run(UUID(ref))
            client.delete_deployment(deployment_id)


# -- the operator's calendar, failed posts and accounts ------------------------------------------------------------


def _accounts(count: int, daily_cap: int) -> list[int]:
    now = datetime.now(UTC)
    ids = []
    with get_engine().begin() as conn:
        for n in range(count):
            row = {
                "platform": "sandbox",
                "handle": f"shop{n}",
                "display_name": f"Shop {n}",
                "persona": "",
                "niches": [],
                "status": "needs_login" if n == count - 1 else "active",
                "status_reason": "session expired" if n == count - 1 else None,
                "daily_cap": daily_cap,
                "windows": ["00:00-23:59"],
                "timezone": "UTC",
                "approval_required": False,
                "created_at": now,
                "updated_at": now,
            }
            table = AccountRecord.__table__  # type: ignore[attr-defined]
            ids.append(int(conn.execute(table.insert().values(**row)).inserted_primary_key[0]))
    return ids


def _post(post_id: str) -> Any:
    with get_engine().connect() as conn:
        return conn.execute(select(PostRecord.__table__).where(PostRecord.__table__.c.id == post_id)).first()  # type: ignore[attr-defined]


def test_operator_moves_and_cancels_planned_posts_within_caps_and_retries_failed_ones(
    browser: Browser, data_dir: Path, users: None, tmp_path: Path
) -> None:
    accounts = _accounts(2, daily_cap=2)
    day = date.today() + timedelta(days=2)
    ten = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    videos = [tmp_path / f"v{n}.mp4" for n in range(6)]
    ids = fill_outbox(accounts, videos, per_account=3, slot_at=ten)
    # account 0: posts at 10:00 and 14:00 on `day` (its cap of 2 is full), a third the next day at 10:00
    mine = [p for n, p in enumerate(ids) if n % 2 == 0]
    table = PostRecord.__table__  # type: ignore[attr-defined]
    with get_engine().begin() as conn:
        conn.execute(update(table).where(table.c.id == mine[1]).values(slot_at=ten + timedelta(hours=4)))
        conn.execute(update(table).where(table.c.id == mine[2]).values(slot_at=ten + timedelta(days=1)))
        theirs = [p for n, p in enumerate(ids) if n % 2 == 1]
        conn.execute(
            update(table)
            .where(table.c.id == theirs[0])
            .values(status="failed", error_code="rejected_by_platform", last_error="video too short", attempts=5)
        )
        conn.execute(
            update(table)
            .where(table.c.id == theirs[1])
            .values(status="failed", remote_id="r-77", last_error="metadata update failed")
        )
        conn.execute(update(table).where(table.c.id == theirs[2]).values(status="unknown", last_error="timeout"))

    with serve_in_thread(_console(data_dir, RecordingSubmitter()).app) as url:
        page = _browser_login(browser, url, "ops")
        page.goto(f"/operator/calendar?start={day.isoformat()}")
        cell = page.locator(f'[data-account="{accounts[0]}"] [data-day="{day.isoformat()}"]')
        expect(cell.get_by_test_id("post")).to_have_count(2)

        # the next day's post onto the full day: refused by the cap, nothing changes
        third = page.locator(f'[data-post-id="{mine[2]}"]')
        third.get_by_test_id("post-slot").fill(f"{day.isoformat()}T18:00")
        third.get_by_test_id("post-move-submit").click()
        expect(page.get_by_test_id("error")).to_contain_text("cap 2")
        assert _post(mine[2]).slot_at.replace(tzinfo=UTC) == ten + timedelta(days=1)

        # cancel the 14:00 post, then the move fits; 5 minutes from the 10:00 post breaks the sandbox's spacing
        page.goto(f"/operator/calendar?start={day.isoformat()}")
        page.locator(f'[data-post-id="{mine[1]}"]').get_by_test_id("post-cancel").click()
        expect(page.get_by_test_id("notice")).to_contain_text("cancelled")
        assert (_post(mine[1]).status, _post(mine[1]).error_code) == ("rejected", "cancelled")
        third = page.locator(f'[data-post-id="{mine[2]}"]')
        third.get_by_test_id("post-slot").fill(f"{day.isoformat()}T10:05")
        third.get_by_test_id("post-move-submit").click()
        expect(page.get_by_test_id("error")).to_contain_text("between posts")
        page.goto(f"/operator/calendar?start={day.isoformat()}")
        third = page.locator(f'[data-post-id="{mine[2]}"]')
        third.get_by_test_id("post-slot").fill(f"{day.isoformat()}T18:00")
        third.get_by_test_id("post-move-submit").click()
        expect(page.get_by_test_id("notice")).to_contain_text("moved")
        expect(cell.get_by_test_id("post")).to_have_count(3)  # the cancelled one stays, greyed
        assert _post(mine[2]).slot_at.replace(tzinfo=UTC) == ten + timedelta(hours=8)

        # failed and unknown posts with their reasons; retry only what never reached the platform
        page.goto("/operator/problems")
        expect(page.get_by_test_id("problem")).to_have_count(3)
        row = page.locator(f'[data-post-id="{theirs[0]}"]')
        expect(row.get_by_test_id("problem-reason")).to_contain_text("video too short")
        row.get_by_test_id("problem-retry").click()
        expect(page.get_by_test_id("notice")).to_contain_text("planned again")
        assert (_post(theirs[0]).status, _post(theirs[0]).attempts) == ("planned", 0)
        page.locator(f'[data-post-id="{theirs[1]}"]').get_by_test_id("problem-retry").click()
        expect(page.get_by_test_id("error")).to_contain_text("not posting it twice")
        assert _post(theirs[1]).status == "failed"
        page.goto("/operator/problems")
        page.locator(f'[data-post-id="{theirs[2]}"]').get_by_test_id("problem-retry").click()
        expect(page.get_by_test_id("notice")).to_contain_text("asks the platform")
        assert _post(theirs[2]).status == "unknown" and _post(theirs[2]).next_attempt_at is not None

        # accounts with their status; the one needing a login names the login command
        page.goto("/operator/accounts")
        needs = page.locator(f'[data-account="{accounts[1]}"]')
        expect(needs.get_by_test_id("account-status")).to_contain_text("needs_login")
        expect(needs.get_by_test_id("account-login")).to_have_text(f"mcn accounts login {accounts[1]}")
        page.context.close()

    trail = PostEvent.__table__  # type: ignore[attr-defined]
    with get_engine().connect() as conn:
        events = conn.execute(select(trail).where(trail.c.worker == "console:ops")).all()
    assert len(events) == 4  # cancel, move, retry, reconcile request


def _project_clips(project_id: str, upload_path: Path, count: int) -> list[str]:
    """A finished run of a recording uploaded into ``project_id`` with ``count`` clips (rows, tiny files)."""
    from sqlmodel import SQLModel

    stamp = datetime.now(UTC)
    tables = SQLModel.metadata.tables
    upload_path.write_bytes(b"\0" * 64)
    ids = [f"gate-clip-{n}" for n in range(count)]
    with get_engine().begin() as conn:
        conn.execute(
            tables["console_uploads"].insert(),
            [
                {
                    "id": "gate-upload",
                    "project_id": project_id,
                    "filename": upload_path.name,
                    "size": 64,
                    "received": 64,
                    "status": "submitted",
                    "path": str(upload_path),
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            ],
        )
        source = {"id": "gate-src", "uri": str(upload_path), "status": "done", "created_at": stamp, "updated_at": stamp}
        conn.execute(tables["sources"].insert(), [source])
        run = {"id": "gate-run", "kind": "make_clips", "source_id": "gate-src", "status": "succeeded"}
        conn.execute(tables["runs"].insert(), [{**run, "params": {}, "stats": {"clips": count}, "started_at": stamp}])
        for n, clip_id in enumerate(ids):
            video = upload_path.with_name(f"{clip_id}.mp4")
            video.write_bytes(b"\0" * 64)
            conn.execute(
                tables["clips"].insert(),
                [
                    {
                        "id": clip_id,
                        "run_id": "gate-run",
                        "source_id": "gate-src",
                        "rank": n + 1,
                        "source_start": n * 30.0,
                        "source_end": n * 30.0 + 20.0,
                        "duration": 20.0,
                        "score": 0.9 - n / 10,
                        "hook": "Rain? No problem",
                        "title": f"Stay dry {n}",
                        "reason": "test",
                        "points": [],
                        "sentences": [],
                        "path": str(video),
                        "created_at": stamp,
                    }
                ],
            )
    return ids


def test_brand_approval_in_chromium_gates_the_plan_and_a_later_rejection_cancels_the_post(
    browser: Browser, data_dir: Path, users: None
) -> None:
    from console.tables import ConsoleProject
    from publisher.plan import plan_day

    account = _accounts(2, daily_cap=5)[0]
    day = date.today() + timedelta(days=2)
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(hours=1)
    posts = PostRecord.__table__  # type: ignore[attr-defined]

    def planned() -> dict[str, str]:
        with get_engine().connect() as conn:
            return {r.clip_id: r.status for r in conn.execute(select(posts.c.clip_id, posts.c.status))}

    with serve_in_thread(_console(data_dir, RecordingSubmitter()).app) as url:
        page = _browser_login(browser, url, "ann")
        expect(page.get_by_test_id("project-require-approval")).to_be_checked()  # on by default
        page.get_by_test_id("project-name").fill("Spring launch")
        page.get_by_test_id("project-create").click()
        expect(page.get_by_test_id("project-approval-state")).to_contain_text("once approved")
        project_id = page.url.rstrip("/").rsplit("/", 1)[1]
        good, bad, unseen = _project_clips(project_id, data_dir / "spring.mp4", 3)

        # nothing reviewed yet: the project's clips wait, and the plan says so
        waiting = plan_day(day, now=now)
        assert waiting.planned == 0 and waiting.awaiting_approval == 3
        assert any("3 clips wait for approval" in r for r in waiting.unfilled_by_reason())

        page.reload()
        page.locator(f'[data-clip-id="{bad}"]').get_by_test_id("clip-note").fill("wrong price on screen")
        page.locator(f'[data-clip-id="{bad}"]').get_by_test_id("clip-reject").click()
        expect(page.locator(f'[data-clip-id="{bad}"]').get_by_test_id("clip-verdict")).to_contain_text("rejected")
        page.locator(f'[data-clip-id="{good}"]').get_by_test_id("clip-approve").click()
        expect(page.locator(f'[data-clip-id="{good}"]').get_by_test_id("clip-verdict")).to_contain_text("approved")
        result = plan_day(day, now=now)
        assert planned() == {good: "planned"}  # approved: planned; rejected and unreviewed: not
        assert result.awaiting_approval == 1 and result.rejected_clips == 1

        # the brand changes its mind: the planned post is cancelled, with the reason on the operator's calendar
        page.locator(f'[data-clip-id="{good}"]').get_by_test_id("clip-note").fill("product recalled")
        page.locator(f'[data-clip-id="{good}"]').get_by_test_id("clip-reject").click()
        expect(page.locator(f'[data-clip-id="{good}"]').get_by_test_id("clip-verdict")).to_contain_text("rejected")
        assert planned() == {good: "rejected"}

        # and turns the gate off for the project: the clip nobody reviewed is planned, the rejected ones never
        page.get_by_test_id("project-require-approval").uncheck()
        page.get_by_test_id("project-approval-save").click()
        expect(page.get_by_test_id("project-approval-state")).to_contain_text("without approval")
        with session() as db:
            stored = db.get(ConsoleProject, project_id)
        assert stored is not None and stored.require_approval is False
        plan_day(day, now=now)
        assert planned() == {good: "rejected", unseen: "planned"}
        page.context.close()

        ops = _browser_login(browser, url, "ops")
        ops.goto(f"/operator/calendar?start={day.isoformat()}")
        cancelled = ops.locator(f'[data-account="{account}"] [data-status="rejected"]')
        expect(cancelled.get_by_test_id("post-reason")).to_contain_text("clip rejected by ann: product recalled")
        ops.context.close()


# -- the command line ----------------------------------------------------------------------------------------------


def test_user_add_reads_the_password_from_env_and_checks_its_input(data_dir: Path, monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from console.auth import authenticate
    from mcn.console_cli import console_app

    runner = CliRunner()
    monkeypatch.setenv("MCN_CONSOLE_PASSWORD", PASSWORD)
    made = runner.invoke(console_app, ["user", "add", "ann", "--role", "brand", "--brand", "acme"])
    assert made.exit_code == 0 and "ann (brand, brand acme)" in made.output
    assert PASSWORD not in made.output
    user = authenticate("ann", PASSWORD)
    assert user is not None and user.brand == "acme" and authenticate("ann", "other password") is None
    assert runner.invoke(console_app, ["user", "add", "bob", "--role", "boss"]).exit_code == 2
    assert runner.invoke(console_app, ["user", "add", "bob", "--role", "brand"]).exit_code == 2
    monkeypatch.setenv("MCN_CONSOLE_PASSWORD", "short")
    short = runner.invoke(console_app, ["user", "add", "bob", "--role", "operator"])
    assert short.exit_code == 2 and "at least 8" in short.output
    listed = runner.invoke(console_app, ["user", "list"])
    assert listed.output.split() == ["ann", "brand", "acme"]


def test_mcn_console_serve_answers_on_loopback(data_dir: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MCN_DATA_DIR": str(data_dir)}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mcn"), "console", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.3)
        assert answer.status_code == 200 and "login-form" in answer.text
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 303
        assert (data_dir / "console.key").stat().st_mode & 0o077 == 0
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert "runs: in-process" in output and "no console users yet" in output


def test_a_clip_rejected_in_the_console_is_never_planned(data_dir: Path, users: None) -> None:
    from console.auth import authenticate
    from console.projects import review_clip
    from publisher.plan import plan_day
    from tests.test_plan import DAY, NOW, _with_source_and_run, add_account, add_clips

    engine = _with_source_and_run(get_engine())
    unreviewed, rejected, approved = add_clips(engine, 3)
    add_account(engine, "only", daily_cap=10)
    operator = authenticate("ops", PASSWORD)
    assert operator is not None
    review_clip(operator, rejected, "rejected", "wrong price on screen")
    review_clip(operator, approved, "approved")
    plan_day(DAY, now=NOW)
    posts = PostRecord.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        planned = {row.clip_id for row in conn.execute(select(posts.c.clip_id))}
    assert planned == {unreviewed, approved}


def test_mcn_up_registers_the_console_on_its_port(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from mcn.up import Stack, UpError, UpOptions, service_names

    assert "console" in service_names()
    from mcn.console_cli import console_service

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        monkeypatch.setenv("MCN_CONSOLE_PORT", str(port))
        stack = Stack(UpOptions(), data_dir, {}, "http://127.0.0.1:4200/api")
        with pytest.raises(UpError, match=f"port {port}"):
            console_service(stack)  # taken: one line naming the port and the setting
    service = console_service(stack)
    assert service.argv[-4:] == ("--host", "127.0.0.1", "--port", str(port))
    assert service.health_url == f"http://127.0.0.1:{port}/healthz" and service.url == f"http://127.0.0.1:{port}/"


def test_operator_logs_an_account_in_by_scanning_the_platforms_qr_code(
    browser: Browser, data_dir: Path, users: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accounts.login import login_account
    from accounts.registry import AccountSpec, add_account, get_account
    from accounts.vault import load_credentials
    from console.logins import ConsoleLogins
    from mcn.settings import get_settings
    from sandbox.app import create_app
    from tests.sandbox_support import new_account, sandbox_config

    with serve_in_thread(create_app(sandbox_config(tmp_path / "sandbox"))) as sandbox_url:
        monkeypatch.setenv("MCN_SANDBOX_URL", sandbox_url)
        monkeypatch.delenv("MCN_SECRET_KEY", raising=False)
        get_settings.cache_clear()
        with httpx.Client(base_url=sandbox_url, timeout=10) as admin:
            new_account(admin, "qr_shop")
        account = add_account(AccountSpec("sandbox", "qr_shop"))
        assert account.status == "needs_login"
        shown: dict[str, str] = {}

        def runner(account_id: int, on_page: Any) -> Any:
            def open_login(page: Any) -> None:
                on_page(page)
                # what the QR code encodes, read as the phone's camera would (the test cannot scan a picture)
                shown["approve"] = str(page.locator('[data-testid="qr-approve-link"]').get_attribute("href"))

            return login_account(account_id, timeout_s=60, headless=True, on_page=open_login)

        app = create_console_app(
            ConsoleOptions(data_dir=data_dir, max_upload_bytes=1024),
            RecordingSubmitter(),
            b"k" * 32,
            ConsoleLogins(runner),
        )
        with serve_in_thread(app.app) as url:
            page = _browser_login(browser, url, "ops")
            page.goto("/operator/accounts")
            page.locator(f'[data-account="{account.id}"]').get_by_test_id("account-qr-login").click()
            picture = page.get_by_test_id("login-picture")
            expect(picture).to_be_visible(timeout=60_000)
            assert picture.evaluate("img => img.naturalWidth") > 100  # the platform's page, as a picture
            phone = browser.new_context(base_url=sandbox_url)
            phone_page = phone.new_page()
            phone_page.goto(shown["approve"])
            phone_page.fill('[data-testid="approve-handle"]', "qr_shop")
            phone_page.click('[data-testid="approve-button"]')
            expect(phone_page.get_by_test_id("approve-result")).to_contain_text("qr_shop")
            phone.close()
            expect(page.get_by_test_id("login-state")).to_have_attribute("data-state", "done", timeout=60_000)
            page.context.close()
            gus = _login(url, "gus")
            assert gus.post(f"/accounts/{account.id}/login", data={"csrf_token": _csrf(gus)}).status_code == 403
    assert get_account(account.id).status == "active"
    assert load_credentials(account.id).get("api_token")

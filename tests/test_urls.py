"""Redacting secrets from URLs before they are shown or stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipper import urls
from clipper.urls import has_secrets, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pass@host/v.mp4", "http://***@host/v.mp4"),
        ("https://token@host:8443/v.mp4", "https://***@host:8443/v.mp4"),
        ("http://u:p@ss@host/", "http://***@host/"),
        ("https://h/v.mp4?token=abc&n=1", "https://h/v.mp4?token=***&n=1"),
        (
            "https://h/v?access_token=a&api_key=b&key=c&sig=d&signature=e",
            "https://h/v?access_token=***&api_key=***&key=***&sig=***&signature=***",
        ),
        (
            "https://b.s3.amazonaws.com/v.mp4?X-Amz-Algorithm=AWS4&X-Amz-Credential=AK%2F1&X-Amz-Signature=ff&X-Amz-Security-Token=tt",
            "https://b.s3.amazonaws.com/v.mp4?X-Amz-Algorithm=***&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***",
        ),
        (
            "https://h/v.mp4?Expires=1&Key-Pair-Id=K&Signature=S&Policy=P",
            "https://h/v.mp4?Expires=1&Key-Pair-Id=***&Signature=***&Policy=***",
        ),
        ("https://h/v.mp4?X-Goog-Signature=s&sv=2020&sp=r", "https://h/v.mp4?X-Goog-Signature=***&sv=2020&sp=r"),
        ("https://h/v.mp4#access_token=t&x=1", "https://h/v.mp4#access_token=***&x=1"),
        ("https://h/v.mp4?client_secret=s;refresh_token=r", "https://h/v.mp4?client_secret=***;refresh_token=***"),
        ("http://[::1]:80/a?apikey=1", "http://[::1]:80/a?apikey=***"),
        ("https://h/live/v.mp4?quality=hd&t=30", "https://h/live/v.mp4?quality=hd&t=30"),
        ("/videos/user:pass@x.mp4", "/videos/user:pass@x.mp4"),
        ("stream.mp4", "stream.mp4"),
        ("HTTP://Host/v.mp4?", "HTTP://Host/v.mp4?"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert has_secrets(url) == (url != shown)
    assert redact_url(shown) == shown


def test_redact_text_finds_urls_in_messages_and_keeps_punctuation() -> None:
    message = "http://a:b@h/x.mp4?sig=1: HTTP 401 (see https://h/y?apikey=2). Retry http://h/z.mp4."
    assert (
        redact_text(message)
        == "http://***@h/x.mp4?sig=***: HTTP 401 (see https://h/y?apikey=***). Retry http://h/z.mp4."
    )
    assert redact_text("no urls here: a=1&token=2") == "no urls here: a=1&token=2"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://mcn:pw@db:5432/mcn", "postgresql://mcn:***@db:5432/mcn"),
        ("postgresql://mcn:p@ss:w@db/mcn", "postgresql://mcn:***@db/mcn"),
        ("postgresql://mcn@db/mcn?password=pw&sslmode=require", "postgresql://mcn@db/mcn?password=***&sslmode=require"),
        ("postgresql://db/mcn", "postgresql://db/mcn"),
    ],
)
def test_redact_url_can_keep_the_user_name(url: str, shown: str) -> None:
    assert redact_url(url, keep_user=True) == shown
    assert redact_url(url).count("mcn:") == 0  # by default the user goes too


# Every parameter name the URL redaction treats as secret (and a user's password), in a database URL.
SECRET_PARAMS = sorted(urls._SECRET_NAMES | {"X-Amz-Signature", "auth_token", "sslpassword", "client_secret"})


@pytest.mark.parametrize("name", SECRET_PARAMS)
def test_database_urls_are_shown_with_the_same_redaction(name: str) -> None:
    from mcn.db import shown_url, unavailable

    url = f"postgresql://mcn:hunter22@127.0.0.1:1/mcn?application_name=x&{name}=s3cr3t"
    shown = shown_url(url)
    assert shown == f"postgresql://mcn:***@127.0.0.1:1/mcn?application_name=x&{name}=***"
    message = str(unavailable(url, OSError(f"cannot reach {url}")))
    assert "hunter22" not in message and "s3cr3t" not in message, message


def test_failures_of_batch_items_are_stored_without_secrets(data_dir: Path) -> None:
    from sqlmodel import select

    from mcn import store
    from mcn.db import session
    from mcn.tables import RunFailure

    url = "https://me:hunter22@cdn.example.com/p/1.jpg?X-Amz-Signature=s3cr3t&w=600"
    run_id, _ = store.start_run("make_remix", "products.json", {})
    store.record_failure(run_id, "remix", url, f"{url}: HTTP 403 Forbidden, skipped")
    with session() as db:
        (row,) = db.exec(select(RunFailure).where(RunFailure.run_id == run_id)).all()
    shown = "https://***@cdn.example.com/p/1.jpg?X-Amz-Signature=***&w=600"
    assert (row.subject, row.message) == (shown, f"{shown}: HTTP 403 Forbidden, skipped")

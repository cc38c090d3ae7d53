"""Redacting secrets from URLs before they are shown or stored."""

from __future__ import annotations

import pytest

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

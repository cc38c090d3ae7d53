"""Chromium launch flags for the sandbox's browser tests: the same as mcn's publishers use (``mcn.browser``)."""

from mcn.browser import CHROMIUM_ARGS, SYSTEM_CHROMIUM, chromium_executable, launch_chromium

__all__ = ["CHROMIUM_ARGS", "SYSTEM_CHROMIUM", "chromium_executable", "launch_chromium"]

"""The simulated clock: every platform time (publish, orders, settlement, session expiry) is read from it.

``running``: simulated time moves with the wall clock from an anchor, plus whatever was advanced. ``manual``:
it stands still until advanced, so a run is reproducible to the second. Advancing 30 days takes one request.
The state is two numbers and a mode; the owner persists them after every change so restarts keep the time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from sandbox.config import ClockMode

MAX_ADVANCE = 3650 * 86_400.0  # keeps every simulated time a valid calendar date
# Douyin's business day and the buyin time strings are China Standard Time (no daylight saving).
CST = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True, slots=True)
class ClockState:
    """``now = anchor_sim + (wall - anchor_wall)`` when running; ``anchor_sim`` when manual."""

    mode: ClockMode
    anchor_sim: float
    anchor_wall: float


class SimClock:
    """Thread-safe simulated clock. ``on_change`` receives the new state (to persist it)."""

    def __init__(
        self,
        state: ClockState,
        on_change: Callable[[ClockState], None] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._state = state
        self._on_change = on_change
        self._wall = wall
        self._lock = threading.Lock()

    @property
    def state(self) -> ClockState:
        return self._state

    @property
    def mode(self) -> ClockMode:
        return self._state.mode

    def now(self) -> float:
        """Simulated epoch seconds."""
        s = self._state
        if s.mode == "manual":
            return s.anchor_sim
        return s.anchor_sim + (self._wall() - s.anchor_wall)

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0); returns the new time."""
        if not 0 <= seconds <= MAX_ADVANCE:
            raise ValueError("the clock moves forward by at most 10 years at a time")
        with self._lock:
            wall = self._wall()
            current = self.now()
            self._state = ClockState(self._state.mode, current + seconds, wall)
        self._changed()
        return self.now()

    def set_time(self, when: float) -> float:
        """Jump forward to ``when`` (epoch seconds); moving backwards is refused (orders would un-happen)."""
        current = self.now()
        if when < current - 1e-6:
            raise ValueError("the clock only moves forward")
        return self.advance(max(0.0, when - current))

    def set_mode(self, mode: ClockMode) -> None:
        """Switch between running and manual without a jump in simulated time."""
        with self._lock:
            self._state = ClockState(mode, self.now(), self._wall())
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self._state)


def to_local(ts: float) -> datetime:
    """Epoch seconds as an aware datetime in China Standard Time."""
    return datetime.fromtimestamp(ts, CST)


def format_local(ts: float | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in China Standard Time, the buyin API's time format; ``""`` for no time."""
    if ts is None:
        return ""
    return to_local(ts).strftime("%Y-%m-%d %H:%M:%S")


def local_day(ts: float) -> int:
    """The China Standard Time calendar day of ``ts`` as an ordinal (for the per-day posting cap)."""
    return to_local(ts).toordinal()


def local_hour(ts: float) -> float:
    """Hour of the day (0-24, fractional) in China Standard Time (for the time-of-day curve)."""
    t = to_local(ts)
    return t.hour + t.minute / 60 + t.second / 3600


def parse_time(value: str | int | float) -> float:
    """Parse an epoch number, ``YYYY-MM-DD HH:MM[:SS]`` (China Standard Time, as Douyin pages and buyin use) or
    an ISO 8601 string with an offset; raise ``ValueError`` with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("a time must be epoch seconds or 'YYYY-MM-DD HH:MM[:SS]'")
    if isinstance(value, int | float):
        return _in_range(float(value))
    text = value.strip()
    try:
        return _in_range(float(text))
    except ValueError as exc:
        if "out of range" in str(exc):
            raise
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=CST).timestamp()
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad time {text!r}: use epoch seconds, 'YYYY-MM-DD HH:MM[:SS]' (UTC+8) or ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CST)
    return parsed.astimezone(UTC).timestamp()


def _in_range(ts: float) -> float:
    # 1970..9999: every time the platform formats must be a real calendar date
    if not 0 <= ts < 253_402_300_800:
        raise ValueError(f"time {ts!r} is out of range (epoch seconds between 1970 and 9999)")
    return ts

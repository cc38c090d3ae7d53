"""Posting windows: the local hours an account posts in, e.g. ``09:00-12:00;19:00-23:30``.

Accounts store their windows as a JSON list of ``"HH:MM-HH:MM"`` strings in the account's time zone. This module
parses them into typed :class:`Window` values (minutes since local midnight) and turns them into UTC intervals for
one local day with :func:`slot_bounds`, which the posting planner uses to place slots.

A window may not cross midnight (``22:00-02:00`` is refused: write ``22:00-24:00;00:00-02:00``), so a window always
belongs to exactly one local day and a plan for a day never leaks into the next. ``24:00`` is accepted as an end.
Conversions go through :mod:`zoneinfo`, so a window on a daylight-saving change day is as long as the wall clock
says: ``01:00-04:00`` on a spring-forward day is two real hours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_WINDOWS: tuple[str, ...] = ("09:00-12:00", "18:00-23:30")
WINDOW_SEPARATOR = ";"
MINUTES_PER_DAY = 24 * 60
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


class WindowError(ValueError):
    """A posting window or time zone that cannot be used; ``str()`` is one line naming the input."""


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """One local posting window, ``start <= t < end`` in minutes since local midnight (``end`` may be 1440)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < MINUTES_PER_DAY or not 0 < self.end <= MINUTES_PER_DAY:
            raise WindowError(f"window {self.start}-{self.end}: minutes must lie within one day (0-1440)")
        if self.start >= self.end:
            raise WindowError(f"window {self}: it must end after it starts")

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"HH:MM-HH:MM"`` -> :class:`Window`; a :class:`WindowError` names the text and what is wrong."""
        raw = text.strip()
        parts = raw.split("-")
        if len(parts) != 2:
            raise WindowError(f"window {raw!r}: expected HH:MM-HH:MM, e.g. 09:00-12:00")
        start = _minutes(parts[0], raw, is_end=False)
        end = _minutes(parts[1], raw, is_end=True)
        if start == end:
            raise WindowError(f"window {raw!r}: it starts and ends at the same time")
        if start > end:
            raise WindowError(
                f"window {raw!r} crosses midnight; split it into two windows, "
                f"e.g. {_clock(start)}-24:00;00:00-{_clock(end)}"
            )
        return cls(start, end)

    @property
    def minutes(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _minutes(clock: str, window: str, is_end: bool) -> int:
    match = _CLOCK.match(clock.strip())
    if not match:
        raise WindowError(f"window {window!r}: {clock.strip()!r} is not a time like 09:00")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if (hours, minutes) == (24, 0) and is_end:
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise WindowError(f"window {window!r}: {clock.strip()} is not a time of day")
    return hours * 60 + minutes


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_windows(windows: str | Iterable[str | Window]) -> tuple[Window, ...]:
    """Parse windows (a ``;``-separated string or a list of strings/windows), sorted by start.

    An empty input means :data:`DEFAULT_WINDOWS`. Overlapping windows are refused: the planner would double-book
    the overlap.
    """
    items: list[str | Window]
    if isinstance(windows, str):
        items = [part for part in windows.split(WINDOW_SEPARATOR) if part.strip()]
    else:
        items = [item for item in windows if isinstance(item, Window) or item.strip()]
    if not items:
        items = list(DEFAULT_WINDOWS)
    parsed = sorted(item if isinstance(item, Window) else Window.parse(item) for item in items)
    for earlier, later in pairwise(parsed):
        if later.start < earlier.end:
            raise WindowError(f"windows {earlier} and {later} overlap; merge them into one")
    return tuple(parsed)


def format_windows(windows: Iterable[Window]) -> list[str]:
    """The stored form: a list of ``"HH:MM-HH:MM"`` strings."""
    return [str(window) for window in windows]


def resolve_timezone(name: str | tzinfo) -> tzinfo:
    """A :class:`zoneinfo.ZoneInfo` for an IANA name such as ``Asia/Shanghai`` (or the tzinfo given)."""
    if isinstance(name, tzinfo):
        return name
    key = name.strip()
    try:
        if not key:
            raise ValueError
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"time zone {name!r} is unknown; use an IANA name such as Asia/Shanghai") from None


def local_day_bounds(day: date, tz: str | tzinfo) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the local calendar ``day`` in ``tz`` (23 or 25 hours on DST change days)."""
    zone = resolve_timezone(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_date(moment: datetime, tz: str | tzinfo) -> date:
    """The calendar date ``moment`` (timezone-aware) falls on in ``tz``."""
    if moment.tzinfo is None:
        raise WindowError(f"{moment.isoformat()}: a timezone-aware datetime is needed")
    return moment.astimezone(resolve_timezone(tz)).date()


def slot_bounds(windows: str | Sequence[str | Window], day: date, tz: str | tzinfo) -> list[tuple[datetime, datetime]]:
    """The UTC ``[start, end)`` of each posting window on the local calendar ``day`` in ``tz``, in order.

    Local wall-clock times are converted with :mod:`zoneinfo`: a window spanning a daylight-saving jump lasts
    the real time in between; a wall-clock time that does not exist (inside a spring-forward gap) is read with the
    offset before the jump, as ``zoneinfo`` does for ``fold=0``. ``24:00`` is the next local midnight.
    """
    zone = resolve_timezone(tz)
    bounds: list[tuple[datetime, datetime]] = []
    for window in parse_windows(windows):
        start = _local(day, window.start, zone).astimezone(UTC)
        end = _local(day, window.end, zone).astimezone(UTC)
        if end > start:  # a window wholly inside a DST gap or fold could collapse; it offers no time then
            bounds.append((start, end))
    return bounds


def _local(day: date, minutes: int, zone: tzinfo) -> datetime:
    if minutes == MINUTES_PER_DAY:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)

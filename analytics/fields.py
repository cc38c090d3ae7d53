"""Reading one cell of an order export: ids, money, rates and times as spreadsheets really write them.

Alliance exports pass through Excel on their way to us, so a cell may carry a BOM, thousands separators, a
currency sign, a trailing ``.0`` on an id, Excel's text forms (``'123`` and ``="123"``), a date as Excel's serial
number, or an id Excel already rounded to ``4.9E+18``. Each parser returns the value or raises
:class:`FieldError` with a short reason; the importer turns that into ``line N: column: reason``.

Times without a zone are China Standard Time (UTC+8): buyin's time strings and the alliance back office use it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

CST = timezone(timedelta(hours=8), "CST")
MoneyUnit = Literal["fen", "yuan"]

_SPACES = re.compile(r"[\s\u00a0\u3000]+")
_CURRENCY = re.compile(r"^[¥￥]|元$|^CNY|^RMB", re.IGNORECASE)
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")
_DATE = re.compile(
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
# Excel serial days (1899-12-30 = 0) between 1970 and 2100: a date cell saved as a number.
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EXCEL_SERIAL_RANGE = (25569.0, 73051.0)


class FieldError(ValueError):
    """A cell that cannot be read; ``str()`` is the short reason."""


def clean(text: object) -> str:
    """The cell as plain text: BOM, Excel's text markers (``'123``, ``="123"``) and outer spaces removed."""
    value = "" if text is None else str(text)
    value = value.replace("\ufeff", "").strip()
    if value.startswith('="') and value.endswith('"'):
        value = value[2:-1]
    elif value.startswith("'"):
        value = value[1:]
    return value.strip()


def parse_id(text: object) -> str:
    """An id (order, product, author): digits or text; ``123.0`` -> ``123``; Excel-rounded numbers refused."""
    value = clean(text)
    if isinstance(text, float):
        if not text.is_integer() or abs(text) >= 2**53:
            raise FieldError(f"{value} was stored as a number and lost digits; format the column as text")
        return str(int(text))
    if _SCIENTIFIC.match(value):
        raise FieldError(f"{value} looks like a number Excel rounded; export the column as text")
    if re.fullmatch(r"\d+\.0+", value):
        value = value.split(".", 1)[0]
    return value


def _number(text: object) -> Decimal | None:
    value = clean(text)
    if isinstance(text, int | float) and not isinstance(text, bool):
        return Decimal(repr(text)) if isinstance(text, float) else Decimal(text)
    value = _SPACES.sub("", value)
    value = _CURRENCY.sub("", value).replace(",", "").replace("，", "")
    if value in ("", "-", "--", "—"):
        return None
    negative = value.startswith("(") and value.endswith(")")  # Excel's accounting format for negatives
    if negative:
        value = value[1:-1]
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise FieldError(f"{clean(text)!r} is not a number") from None
    if not number.is_finite():
        raise FieldError(f"{clean(text)!r} is not a number")
    return -number if negative else number


def parse_money(text: object, unit: MoneyUnit = "fen") -> int:
    """An amount in fen. ``fen`` cells must be whole (``1,234`` or ``1234.0``); ``yuan`` cells have at most two
    decimals (``¥12.30`` -> 1230). Empty is 0; negative amounts are refused."""
    number = _number(text)
    if number is None:
        return 0
    if number < 0:
        raise FieldError(f"{clean(text)} is negative")
    if unit == "yuan":
        fen = number * 100
        if fen != fen.to_integral_value():
            raise FieldError(f"{clean(text)} has more than two decimals for yuan")
        return int(fen)
    if number != number.to_integral_value():
        raise FieldError(f"{clean(text)} has a fraction but amounts are in fen (use --unit yuan for yuan)")
    return int(number)


def parse_rate(text: object) -> int | None:
    """A commission rate in 1/10,000 (buyin's unit): ``2000``, ``20%`` or a fraction ``0.2``. Empty is ``None``."""
    value = clean(text)
    percent = value.endswith("%")
    number = _number(value.rstrip("%") if percent else text)
    if number is None:
        return None
    if percent:
        number *= 100
    elif number < 1 and number != 0:
        number *= 10000
    if not 0 <= number <= 10000:
        raise FieldError(f"{value} is not a commission rate (0-100 %)")
    return int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_time(text: object) -> datetime | None:
    """A moment in UTC. Accepts ``YYYY-MM-DD[ HH:MM[:SS]]`` (also with ``/`` or ``.``, unpadded, ISO ``T`` with a
    zone), epoch seconds or milliseconds, an Excel serial date, or a spreadsheet's own datetime. Zone-less values
    are China Standard Time. Empty (or ``0``, buyin's "not yet") is ``None``."""
    if isinstance(text, datetime):
        return (text.replace(tzinfo=CST) if text.tzinfo is None else text).astimezone(UTC)
    value = clean(text)
    if value in ("", "0", "-", "--", "—", "null", "None"):
        return None
    match = _DATE.match(value)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        try:
            moment = datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                int((fraction or "0").ljust(6, "0")),
            )
        except ValueError as exc:
            raise FieldError(f"{value}: {exc}") from None
        return moment.replace(tzinfo=_zone(zone)).astimezone(UTC)
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        raise FieldError(f"{value!r} is not a time (use YYYY-MM-DD HH:MM:SS)") from None
    if _EXCEL_SERIAL_RANGE[0] <= number < _EXCEL_SERIAL_RANGE[1]:
        local = _EXCEL_EPOCH + timedelta(days=number)
        return local.replace(tzinfo=CST).astimezone(UTC)
    if 1e9 <= number < 1e10:
        return datetime.fromtimestamp(number, UTC)
    if 1e12 <= number < 1e13:
        return datetime.fromtimestamp(number / 1000, UTC)
    raise FieldError(f"{value!r} is not a time (use YYYY-MM-DD HH:MM:SS)")


def _zone(text: str | None) -> timezone:
    if not text:
        return CST
    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))

"""Transfer rates as pg_basebackup's ``--max-rate`` writes them: kilobytes
(1024 bytes) per second, or with a ``k`` or ``M`` suffix (``M``: 1024 kB).

Imported when settings are read, archive_command's included: standard library only.
"""
from __future__ import annotations

from swiftwal.domain.errors import InvalidInput

KILOBYTE = 1024
#: pg_basebackup's own limits for --max-rate, in kB/s.
MAX_RATE_MIN = 32
MAX_RATE_MAX = 1024 * 1024
_UNITS = {"": 1, "k": 1, "M": 1024}


def parse_rate(text: str, minimum: int = 1, maximum: int | None = None) -> int:
    """The rate ``text`` means, in whole kB/s; ``InvalidInput`` if it is not one
    or lies outside ``minimum``..``maximum``."""
    if not isinstance(text, str):
        raise InvalidInput(f"invalid rate {text!r}")
    stripped = text.strip()
    unit = stripped[-1:] if stripped[-1:] in ("k", "M") else ""
    number = stripped[:len(stripped) - len(unit)].strip()
    if not number.isascii() or not number.isdigit() or int(number) == 0:
        raise InvalidInput(f"invalid rate {text!r}: expected whole kB/s, or a whole number "
                           "with the suffix k or M")
    rate = int(number) * _UNITS[unit]
    if rate < minimum or (maximum is not None and rate > maximum):
        upper = f" and {maximum} kB/s" if maximum is not None else ""
        raise InvalidInput(f"rate {text!r} is out of range: between {minimum}{upper}")
    return rate


def max_rate(text: str) -> int:
    """``backup --max-rate``: what pg_basebackup accepts (32 kB/s to 1 GB/s)."""
    return parse_rate(text, MAX_RATE_MIN, MAX_RATE_MAX)

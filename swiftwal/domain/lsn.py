"""Log sequence numbers: positions in the write-ahead log."""
from __future__ import annotations

import re

import attrs

from swiftwal.domain.errors import InvalidLsn

MAX_LSN = 2**64 - 1

# PostgreSQL's pg_lsn input: two groups of 1 to 8 hex digits.
_LSN_RE = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


def _check_value(instance: object, attribute: object, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_LSN:
        raise InvalidLsn(f"lsn value {value!r} is not an integer in 0..2^64-1")


@attrs.frozen(order=True)
class Lsn:
    """A WAL position, ``Lsn.parse("16/B374D848")``; ``str`` gives the same text back."""

    value: int = attrs.field(validator=_check_value)

    @classmethod
    def parse(cls, text: str) -> Lsn:
        match = _LSN_RE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidLsn(f"invalid lsn {text!r}: expected two groups of 1-8 hex digits "
                             "separated by '/', like 16/B374D848")
        return cls((int(match.group(1), 16) << 32) | int(match.group(2), 16))

    def __str__(self) -> str:
        # the same rendering as PostgreSQL's "%X/%X"
        return f"{self.value >> 32:X}/{self.value & 0xFFFFFFFF:X}"

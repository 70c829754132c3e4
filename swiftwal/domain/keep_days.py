"""``--keep-days D`` of ``prune`` (and of ``info``'s preview of it): the recovery
window it asks for, or the usage error it is."""
from __future__ import annotations

import datetime

from swiftwal.domain import errors

#: A hundred years: no archive holds older backups, and a bound keeps
#: ``now - window`` among the dates ``datetime`` can hold (year 1 onwards).
MAX_DAYS = 36500


def window_of(days) -> datetime.timedelta | None:
    """``--keep-days`` as a recovery window."""
    if days is None:
        return None
    if not days >= 0 or days > MAX_DAYS:  # also refuses nan
        raise errors.UsageError(f"--keep-days must be a number of days from 0 to {MAX_DAYS}, "
                                f"not {days:g}")
    return datetime.timedelta(days=days)

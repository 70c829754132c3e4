"""When the archive worker may mark a segment it stored ahead as archived.

PostgreSQL's archiver renames ``NAME.ready`` to ``NAME.done`` once
``archive_command`` returned 0 for it; the worker may do the same for a
segment whose upload the store confirmed, and the archiver then never calls
``archive_command`` for it: before each call it looks again whether the
``.ready`` file is still there (15 and later keep up to 64 names from one
scan of ``archive_status`` and ``stat`` each before its call; earlier
versions scan again before each call).

What must not happen is a rename under a call the archiver has already
begun for that very segment: the call still succeeds (the segment is
stored), but the archiver's own rename then finds no ``.ready`` file and
logs a warning.  The archiver takes the ``.ready`` segments one at a time,
oldest name first (byte order, which is timeline then position), so while
an older segment is still ``.ready`` it is busy with that one, or will take
it first, and is not calling for a newer one.  Only segments count as that
evidence: a ``.history``, ``.backup`` or ``.partial`` file can be marked
``.ready`` after the archiver chose what it calls next (a backup history
file is named after the backup's first segment, long archived by then).
The one window left is between the worker's look at the directory and its
rename: the older segment's call ending then, and the archiver starting the
call for this one, within that instant.
"""
from __future__ import annotations

import re
from typing import Iterable

_SEGMENT = re.compile(r"[0-9A-F]{24}")


def may_mark_done(segment: str, ready: Iterable[str], requested: bool) -> bool:
    """Whether ``segment``'s ``.ready`` may be renamed ``.done`` now.

    ``ready``: the names marked ``.ready`` in its ``archive_status`` (without
    the suffix); ``requested``: a call is waiting for ``segment`` now (it
    returns through the worker's record, and the archiver renames).
    """
    return not requested and any(name < segment and _SEGMENT.fullmatch(name) for name in ready)

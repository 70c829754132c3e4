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

What is left is the time between the worker's look at the directory and its
rename.  With one older segment as the evidence, that older call ending in
between was enough: the worker's thread waits for the interpreter's lock
there, for milliseconds while other threads compress, and the call it had
just answered ended then (2 warnings in 24 drained backlogs).  Hence
``OLDER_READY``: with two, the archiver would have to run a whole call for
the second one (tens of milliseconds: a process started and answered) in
that time.
"""
from __future__ import annotations

import re
from typing import Iterable

_SEGMENT = re.compile(r"[0-9A-F]{24}")
#: Older segments still ``.ready`` that a segment needs to be marked.
OLDER_READY = 2


def may_mark_done(segment: str, ready: Iterable[str], requested: bool) -> bool:
    """Whether ``segment``'s ``.ready`` may be renamed ``.done`` now.

    ``ready``: the names marked ``.ready`` in its ``archive_status`` (without
    the suffix); ``requested``: a call is waiting for ``segment`` now (it
    returns through the worker's record, and the archiver renames).
    """
    if requested:
        return False
    older = sum(1 for name in set(ready) if name < segment and _SEGMENT.fullmatch(name))
    return older >= OLDER_READY

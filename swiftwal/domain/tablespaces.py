"""Where a restore puts each tablespace of a backup, and the ``tablespace_map``
file that tells PostgreSQL.

By default a tablespace goes back where it was (its recorded location);
``--tablespace-map OID=DIR`` moves one, ``--tablespace-map-all DIR`` moves
every other one to ``DIR/<OID>`` (the options of pgBackRest's restore).  The
targets are absolute, distinct, and neither inside one another nor inside
the data directory (or it inside them): each is checked, then extracted, on
its own.  Paths come in absolute (the caller resolves them).

``tablespace_map`` holds one line per tablespace, ``OID PATH``, the path with
``\\``, newline and carriage return escaped by a backslash (PostgreSQL's
``do_pg_backup_start``); at start-up with a ``backup_label`` PostgreSQL makes
``pg_tblspc/OID`` a link to each path.
"""
from __future__ import annotations

import posixpath
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import attrs

from swiftwal.domain.backup import TablespaceBackup
from swiftwal.domain.errors import IntegrityError, UsageError


@attrs.frozen
class TablespaceTarget:
    tablespace: TablespaceBackup
    directory: str
    moved: bool  # not its recorded location


def parse_mapping(text: str) -> Tuple[int, str]:
    """``OID=DIR`` of ``--tablespace-map``."""
    oid, sep, directory = text.partition("=")
    if not sep or not oid.strip().isdigit() or not directory:
        raise UsageError(f"--tablespace-map {text!r} is not OID=DIRECTORY",
                         hint="see list-backups --json for the backup's tablespaces")
    return int(oid), directory


def plan_targets(tablespaces: Sequence[TablespaceBackup], data_directory: str,
                 mapping: Mapping[int, str], map_all: Optional[str]
                 ) -> List[TablespaceTarget]:
    """Each tablespace's target directory; ``UsageError`` for a mapping that
    names no tablespace of the backup, or targets that overlap."""
    known = {t.oid for t in tablespaces}
    if (mapping or map_all) and not tablespaces:
        raise UsageError("the backup has no tablespaces: --tablespace-map and "
                         "--tablespace-map-all have no effect")
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise UsageError(f"the backup has no tablespace with oid {unknown[0]}",
                         hint="its tablespaces: " + ", ".join(str(o) for o in sorted(known)))
    targets = []
    for tablespace in tablespaces:
        if tablespace.oid in mapping:
            directory = mapping[tablespace.oid]
        elif map_all is not None:
            directory = posixpath.join(map_all, str(tablespace.oid))
        else:
            directory = tablespace.location
        directory = posixpath.normpath(directory)
        targets.append(TablespaceTarget(tablespace, directory,
                                        directory != posixpath.normpath(tablespace.location)))
    _refuse_overlaps([posixpath.normpath(data_directory)] + [t.directory for t in targets],
                     ["the data directory"] + [f"tablespace {t.tablespace.oid}" for t in targets])
    return targets


def _refuse_overlaps(paths: List[str], names: List[str]) -> None:
    for i, first in enumerate(paths):
        if not first.startswith("/"):
            raise UsageError(f"{names[i]}'s target {first} is not an absolute path")
        for j in range(i + 1, len(paths)):
            second = paths[j]
            if _within(first, second) or _within(second, first):
                raise UsageError(f"{names[j]} would be restored into {second}, which "
                                 f"overlaps {names[i]}'s {first}",
                                 hint="give every tablespace a directory of its own "
                                      "(--tablespace-map OID=DIR)")


def _within(path: str, other: str) -> bool:
    return path == other or path.startswith(other.rstrip("/") + "/")


def parse_tablespace_map(text: str) -> Dict[int, str]:
    """OID to path, as PostgreSQL writes the file; ``IntegrityError`` otherwise."""
    entries: Dict[int, str] = {}
    lines, current = [], []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "\n":
            lines.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        lines.append("".join(current))
    for line in lines:
        oid, sep, path = line.partition(" ")
        if not sep or not oid.isdigit() or not path:
            raise IntegrityError(f"tablespace_map has a malformed line {line!r}")
        entries[int(oid)] = path
    return entries


def render_tablespace_map(entries: Iterable[Tuple[int, str]]) -> str:
    out = []
    for oid, path in entries:
        escaped = "".join("\\" + c if c in "\\\n\r" else c for c in path)
        out.append(f"{oid} {escaped}\n")
    return "".join(out)

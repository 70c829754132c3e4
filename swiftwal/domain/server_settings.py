"""What ``check`` concludes from the server's settings: whether archive_mode,
wal_level, archive_command and the role's replication rights let swiftwal archive
and take base backups, one ``Finding`` per setting with a hint.

Asking the server (psql), looking at the files archive_command names and
reading its config file are the command's part; the verdicts are here.
"""
from __future__ import annotations

import shlex
from typing import List, Mapping, Optional, Tuple, Union

import attrs

from swiftwal.domain.errors import InvalidInput

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
ARCHIVE_COMMAND = "archive_command"


@attrs.frozen
class Finding:
    check: str
    status: str
    message: str
    hint: Optional[str] = None

    def line(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.status.upper():4}  {self.check}: {self.message}{hint}"

    def to_json_dict(self) -> dict:
        return {"check": self.check, "status": self.status, "message": self.message,
                "hint": self.hint}


def judge_server(server: Mapping[str, object], archive_command: Finding) -> List[Finding]:
    """Findings on the server's settings, ``archive_command``'s as judged
    from what it calls (``read_archive_command``, ``judge_archive_call``)."""
    found = []
    if server["archive_mode"] in ("on", "always"):
        found.append(Finding("archive_mode", OK, str(server["archive_mode"])))
    else:
        found.append(Finding("archive_mode", FAIL, f"is {server['archive_mode']}: nothing is archived",
                             "ALTER SYSTEM SET archive_mode = on, then restart the server"))
    if server["wal_level"] in ("replica", "logical"):
        found.append(Finding("wal_level", OK, str(server["wal_level"])))
    else:
        found.append(Finding("wal_level", FAIL, f"is {server['wal_level']}: too little WAL for "
                             "recovery from a base backup", "set wal_level = replica and restart"))
    found.append(archive_command)
    if server["replication"] and server["max_wal_senders"] > 0:
        found.append(Finding("replication", OK, "pg_basebackup can connect"))
    elif not server["replication"]:
        found.append(Finding("replication", FAIL, "this user lacks the REPLICATION attribute "
                             "pg_basebackup needs", "ALTER ROLE <user> REPLICATION, and allow it "
                             "in pg_hba.conf"))
    else:
        found.append(Finding("replication", FAIL, "max_wal_senders is 0: pg_basebackup cannot "
                             "connect", "set max_wal_senders (10 is the default) and restart"))
    return found


def skip_archive_test(not_wanted: bool, server: Optional[Mapping[str, object]],
                      store_ok: bool) -> Optional[Finding]:
    """Why the end-to-end archive test is not run (None: run it): it switches
    WAL on a server that archives into a store that works, or proves nothing."""
    if not_wanted:
        return Finding("archive-test", SKIP, "not run (--no-archive-test)")
    if server is None or not store_ok or server["archive_mode"] not in ("on", "always") \
            or server["in_recovery"]:
        return Finding("archive-test", SKIP, "not run: the checks above must pass first")
    return None


@attrs.frozen
class ArchiveCall:
    """The swiftwal an archive_command runs, and the config file it gives it (None: none)."""

    tool: str
    config_file: Optional[str]


def read_archive_command(command: str) -> Union[ArchiveCall, Finding]:
    """The swiftwal call in ``command``, or the failure when it makes none."""
    try:
        words = shlex.split(command)
    except ValueError:
        return Finding(ARCHIVE_COMMAND, FAIL, f"cannot be parsed: {command!r}")
    tools = [w for w in words if w.rsplit("/", 1)[-1] == "swiftwal"]  # its base name
    if not tools or "archive-wal" not in words or "%p" not in words:
        return Finding(ARCHIVE_COMMAND, FAIL, f"{command!r} does not call swiftwal archive-wal %p",
                       "archive_command = '/path/to/swiftwal --config=/path/to/conf archive-wal %p'")
    return ArchiveCall(tools[0], _config_option(words))


def _config_option(words: List[str]) -> Optional[str]:
    for index, word in enumerate(words):
        if word.startswith("--config="):
            return word.split("=", 1)[1]
        if word in ("--config", "-c") and index + 1 < len(words):
            return words[index + 1]
        if word.startswith("-c") and len(word) > 2 and not word.startswith("--"):
            return word[2:]
    return None


def store_of(settings) -> Tuple[str, Optional[str]]:
    """What names a store in settings (``swiftwal.config.Settings``): two
    configurations with the same archive into the same place."""
    return (settings.get("STORAGE") or "swift", settings.get("CONTAINER"))


def judge_archive_call(call: ArchiveCall, tool_runs: bool,
                       theirs: Union[Tuple[str, Optional[str]], Finding, None],
                       ours: Tuple[str, Optional[str]]) -> Finding:
    """The finding on archive_command from what was found of ``call``: whether
    its tool can be run, then the store its config file names (``store_of``)
    or the failure to read that file, against ``ours``.  ``theirs`` is needed
    only when the tool runs and there is a config file: None otherwise."""
    if not tool_runs:
        return Finding(ARCHIVE_COMMAND, FAIL, f"{call.tool} is not an executable file",
                       "give the installed path")
    if call.config_file is None:
        return Finding(ARCHIVE_COMMAND, WARN, "no --config: credentials must be in the server's "
                       "environment", "put them in a file readable by the server's user only")
    if theirs is None:
        raise InvalidInput(f"the store {call.config_file} names is needed to judge archive_command")
    if isinstance(theirs, Finding):
        return theirs
    if ours != theirs:
        return Finding(ARCHIVE_COMMAND, FAIL, f"archives to {theirs[1] or theirs[0]}, not the "
                       "store checked here", "check with the same --config as archive_command")
    return Finding(ARCHIVE_COMMAND, OK, f"calls swiftwal with {call.config_file}")


def unusable_config(message: str, hint: Optional[str]) -> Finding:
    """archive_command's config file cannot be read: ``message`` says why."""
    return Finding(ARCHIVE_COMMAND, FAIL, f"its config file is unusable: {message}", hint)

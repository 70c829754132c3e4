"""Bad input, generated: config files, WAL names, backup keys and restore targets.

Each case runs the real command line in-process against a local-directory
store: whatever the input, the answer is success or one ``swiftwal: error:``
line with a documented status (never a traceback, never the internal-error
status), and nothing is written outside the places the command may write.
"""
from __future__ import annotations

import os
import string
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.inprocess import run_cli
from swiftwal.domain.errors import EXIT_STATUSES, InvalidInput
from swiftwal.domain.walnames import BackupHistoryFile, HistoryFile, parse_wal_filename

DOCUMENTED = {status for _kind, status in EXIT_STATUSES} | {0, 1}
SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_clean_answer(status: int, err: str, argv) -> None:
    assert "Traceback" not in err, (argv, err)
    assert status in DOCUMENTED, (argv, status, err)
    lines = [line for line in err.splitlines() if not line.startswith("swiftwal: warning:")]
    if status not in (0, 1):
        errors = [line for line in lines if line.startswith("swiftwal: error: ")]
        assert len(errors) == 1, (argv, err)


def snapshot(root: str) -> dict:
    """Every path under ``root`` with its size and mtime."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st_ = os.lstat(path)
            found[path] = (st_.st_size, st_.st_mtime_ns)
    return found


def changed_outside(before: dict, after: dict, allowed: tuple) -> list:
    return [path for path in set(before) ^ set(after) | {p for p in before if p in after
                                                          and before[p] != after[p]}
            if not path.startswith(allowed)]


keys = st.sampled_from(["STORAGE", "CONTAINER", "COMPRESSION", "LOG_FORMAT", "TIMEOUT",
                        "LARGE_OBJECT_SIZE", "WAL_SEGMENT_SIZE", "PARALLEL", "ARCHIVE_LOOKAHEAD",
                        "RESTORE_PREFETCH", "INSECURE", "CACHE_DIR", "OS_PASSWORD_FILE",
                        "ENCRYPTION_KEY_FILE", "PG_BIN_DIR", "NOT_A_KEY", "os_auth_url", ""])
values = st.one_of(st.sampled_from(["", "0", "-1", "abc", "1e99", "zstd", "gzip", "lz4", "json",
                                    "yes", "maybe", "/nonexistent/x", "file://", "ftp://x/y",
                                    "9" * 40, "16MB", "3.5"]),
                   st.text(max_size=20).map(lambda s: s.replace("\n", " ").replace("\r", " ")))
lines = st.one_of(st.tuples(keys, values).map(lambda kv: f"{kv[0]}={kv[1]}"),
                  st.tuples(keys, values).map(lambda kv: f"{kv[0]} = {kv[1]}"),
                  st.sampled_from(["[DEFAULT]", "[section", "=value", "# comment", "  ", "KEY"]),
                  st.text(max_size=30).map(lambda s: s.replace("\n", " ").replace("\r", " ")))


@SETTINGS
@given(st.lists(lines, max_size=8), st.binary(max_size=40), st.booleans())
def test_any_config_file_gives_a_clean_answer(tmp_path, body, garbage, with_garbage):
    """The store is named on the command line (command line beats the file), so
    nothing a generated file says can send traffic anywhere but here."""
    config = tmp_path / "swiftwal.conf"
    data = "\n".join(body).encode("utf-8", "surrogatepass")
    config.write_bytes(data + (b"\n" + garbage if with_garbage else b""))
    os.chmod(config, 0o600)
    store = tmp_path / "store"
    before = snapshot(str(tmp_path))
    argv = ["--config", str(config), "--storage", f"file://{store}", "list-wal"]
    status, _out, err = run_cli(argv)
    assert_clean_answer(status, err, argv)
    assert not changed_outside(before, snapshot(str(tmp_path)), (str(store),))


tricky_names = st.sampled_from([
    "000000010000000000000001", "00000001000000000000000", "0000000100000000000000001",
    "00000002.history", "000000010000000000000001.00000028.backup",
    "000000010000000000000001.partial", "../000000010000000000000001",
    "000000010000000000000001/../../x", "/etc/passwd", ".", "..", "", "-", "--help",
    "0000000G0000000000000001", "00000000000000000000000A", "ffffffffffffffffffffffff",
    "00000001000000000000000\x00", "RECOVERYHISTORY", "wal/000000010000000000000001"])
names = st.one_of(tricky_names, st.text(string.hexdigits + "./-_\\ ", max_size=40),
                  st.text(max_size=30))


@SETTINGS
@given(names)
def test_restore_wal_of_any_name_writes_only_its_destination(tmp_path, name):
    if "\x00" in name:
        name = name.replace("\x00", "")
    sandbox = tmp_path / "data"
    (sandbox / "pg_wal").mkdir(parents=True, exist_ok=True)
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)  # an empty archive, not a missing one (that is exit 3)
    before = snapshot(str(tmp_path))
    argv = ["--storage", f"file://{store}", "restore-wal", name,
            str(sandbox / "pg_wal" / "RECOVERYXLOG")]
    status, _out, err = run_cli(argv)
    assert_clean_answer(status, err, argv)
    if not name.startswith("-"):  # (an option, such as --help, is not a name)
        assert status in (1, 2), (name, status, err)  # nothing is archived: missing or invalid
    assert not changed_outside(before, snapshot(str(tmp_path)), (str(store),))


@SETTINGS
@given(names, st.binary(max_size=64))
def test_archive_wal_of_any_file_stores_nothing_it_should_not(tmp_path, name, content):
    """A file named anything, holding anything (never a real WAL header): refused
    with one line, and the store holds no WAL object afterwards.  History and
    backup-history files are text without a header: their content is PostgreSQL's."""
    name = name.replace("\x00", "").replace("/", "_") or "empty"
    if name in (".", ".."):
        name = "dots"
    directory = tmp_path / "pg_wal"
    directory.mkdir(exist_ok=True)
    path = directory / name
    if path.is_dir():
        return
    path.write_bytes(content)
    store = tmp_path / f"store-{uuid.uuid4().hex}"
    argv = ["--storage", f"file://{store}", "archive-wal", str(path)]
    status, _out, err = run_cli(argv)
    assert_clean_answer(status, err, argv)
    try:
        text_file = isinstance(parse_wal_filename(name), (HistoryFile, BackupHistoryFile))
    except InvalidInput:
        text_file = False
    if text_file:
        return
    assert status != 0, (name, err)
    wal_dir = store / "wal"
    assert not wal_dir.exists() or [p for p in os.listdir(wal_dir) if not p.startswith(".")] == []
    path.unlink()


keys_or_junk = st.one_of(st.sampled_from(["latest", "LATEST", "20130828T1810Z", "20261129T091500Z",
                                          "2013-08-28", "../x", "/", "", "-x", "latest/.."]),
                         st.text(max_size=24))


@SETTINGS
@given(keys_or_junk, st.sampled_from(["absent", "empty", "full", "file"]))
def test_restore_of_any_key_into_any_target_touches_nothing(tmp_path, key, target_kind):
    store = tmp_path / "store"
    target = tmp_path / f"target-{target_kind}"
    if target_kind == "empty":
        target.mkdir(exist_ok=True)
    elif target_kind == "full":
        target.mkdir(exist_ok=True)
        (target / "PG_VERSION").write_text("15\n")
    elif target_kind == "file":
        target.write_text("not a directory")
    before = snapshot(str(tmp_path))
    argv = ["--storage", f"file://{store}", "restore", key, str(target)]
    status, _out, err = run_cli(argv)
    assert_clean_answer(status, err, argv)
    assert status != 0, (key, err)  # there is no backup at all
    assert not changed_outside(before, snapshot(str(tmp_path)), (str(store),))

"""The command line never answers with a traceback: any argument list gives
either success or one ``swiftwal: error:`` line and a documented status."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swiftwal import cli
from swiftwal.options import CHOICES, GLOBAL_OPTIONS, split_global_options
from tests.support.inprocess import run_cli
from swiftwal.domain import errors

documented = {status for _kind, status in errors.EXIT_STATUSES} | {0, 1, errors.EXIT_INTERRUPTED}
words = st.sampled_from(["backup", "restore", "list-backups", "list-wal", "archive-wal", "restore-wal",
                         "prune", "archive-cleanup", "--keep-backups", "--keep-wals", "-1", "0", "3",
                         "--json", "-v", "--xlog", "-c", "fast", "latest", "20130828T1810Z",
                         "000000010000000000000001", "--storage", "file:///nonexistent/x",
                         "--dry-run", "--force", "nonsense", "--config", "/nonexistent"])
arguments = st.lists(st.one_of(words, st.text(max_size=12)), max_size=6)


@settings(max_examples=150, deadline=None)
@given(arguments)
def test_no_argument_list_gives_a_traceback(argv):
    status, _out, err = run_cli(["--storage", "file:///nonexistent/swiftwal-store", *argv])
    assert "Traceback" not in err
    assert status in documented, (argv, status, err)
    if status not in (0, 1):
        lines = err.strip().splitlines()
        assert lines and lines[-1].startswith("swiftwal: error: "), err


def test_every_error_class_has_a_status():
    for kind in [errors.SwiftwalError, *errors.SwiftwalError.__subclasses__()]:
        assert errors.exit_status(kind("x") if kind is not errors.ToolFailed else kind("t", 1)) in documented


option_values = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1,
                        max_size=12).filter(lambda v: not v.startswith("-"))


@st.composite
def global_options(draw):
    argv = []
    for flags, key, _ in draw(st.lists(st.sampled_from(GLOBAL_OPTIONS), max_size=6)):
        flag = draw(st.sampled_from(flags))
        if key == "":
            argv.append(flag)
            continue
        value = draw(st.sampled_from(CHOICES[key]) if key in CHOICES else option_values)
        if flag.startswith("--") and draw(st.booleans()):
            argv.append(f"{flag}={value}")
        else:
            argv += [flag, value]
    return argv


@given(global_options(), st.sampled_from(["archive-wal", "list-wal"]))
def test_the_fast_option_parser_reads_options_as_argparse_does(options, command):
    argv = [*options, command] + (["pg_wal/000000010000000000000001"]
                                  if command == "archive-wal" else [])
    args = cli.build_parser(argv).parse_args(argv)
    values, config_file, switches, rest = split_global_options(argv)
    expected = {k: v for k, v in cli.cli_settings(args).items() if v is not None}
    assert values == expected
    assert config_file == args.config
    assert switches == {s for s in ("--verbose", "--debug") if getattr(args, s[2:])}
    assert rest == argv[len(argv) - len(rest):] and rest[0] == command


@pytest.mark.parametrize("argv", [["-cFILE", "archive-wal", "x"], ["--bogus", "archive-wal", "x"],
                                  ["--config"], ["--debug=1", "archive-wal", "x"],
                                  ["--compression", "lz4", "archive-wal", "x"]])
def test_the_fast_option_parser_declines_what_it_does_not_know(argv):
    assert split_global_options(argv) is None


# -- conventions administrators rely on ------------------------------------------------

def test_version_is_the_installed_distributions_and_the_package_root_reads_it_on_demand():
    import importlib.metadata
    import subprocess
    import sys

    import swiftwal

    installed = importlib.metadata.version("swiftwal")
    assert run_cli(["--version"]) == (0, f"swiftwal {installed}\n", "")
    assert swiftwal.__version__ == installed
    code = ("import sys, swiftwal; print('importlib.metadata' in sys.modules); "
            "print(swiftwal.__version__)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split()
    assert shown == ["False", installed]


# Each command with what it needs to parse, and an empty local store to run against.
PARSEABLE = {"backup": [], "restore": ["latest", "/nonexistent/target"], "list-backups": [],
             "list-wal": [], "archive-wal": ["pg_wal/000000010000000000000001"],
             "restore-wal": ["000000010000000000000001", "pg_wal/RECOVERYXLOG"],
             "prune": ["--keep-backups", "1"], "archive-cleanup": ["000000010000000000000001"],
             "verify": [], "check": [], "info": [], "archive-worker": [], "restore-worker": []}


def settings_of(argv):
    args = cli.build_parser(argv).parse_args(argv)
    return cli.cli_settings(args), args.config, args.verbose, args.debug, args.command


@given(global_options(), st.sampled_from(sorted(set(PARSEABLE) - {"backup"})))
def test_global_options_after_the_command_mean_what_they_mean_before_it(options, command):
    before = [*options, command, *PARSEABLE[command]]
    after = [command, *PARSEABLE[command], *options]
    assert settings_of(after) == settings_of(before)


def test_a_commands_own_option_keeps_its_flag_and_the_option_after_the_command_wins():
    args = cli.build_parser(["backup"]).parse_args(["-c", "conf", "backup", "-c", "fast"])
    assert (args.config, args.checkpoint) == ("conf", "fast")
    args = cli.build_parser(["backup"]).parse_args(["backup", "--config", "conf", "-v"])
    assert (args.config, args.checkpoint, args.verbose) == ("conf", None, True)
    settings, config, verbose, _, _ = settings_of(
        ["-C", "first", "--config", "a", "-v", "list-wal", "-C", "second", "--config=b"])
    assert (settings["CONTAINER"], config, verbose) == ("second", "b", True)


def test_the_fast_option_parser_leaves_options_after_the_command_to_argparse():
    assert split_global_options(["archive-wal", "--config", "f", "pg_wal/x"]) is None
    assert split_global_options(["-c", "f", "restore-wal", "x", "y", "-v"]) is None
    assert split_global_options(["-c", "f", "archive-wal", "pg_wal/x"])[3] == [
        "archive-wal", "pg_wal/x"]


def segment(path, name: str) -> bytes:
    """A WAL segment whose page header matches ``name`` (all archive-wal reads)."""
    import os
    import struct

    from swiftwal.domain.walnames import Segment

    size = 16 << 20
    header = struct.pack("<HHIQI4xQII", 0xD110, 0x0002, 1,
                         Segment.parse(name, size).start_lsn(size).value, 0, 7 << 60, size, 8192)
    content = header + os.urandom(size - len(header))
    path.write_bytes(content)
    return content


def test_archive_wal_and_restore_wal_with_their_options_after_the_command(tmp_path):
    name = "000000010000000000000003"
    (tmp_path / "pg_wal").mkdir()
    content = segment(tmp_path / "pg_wal" / name, name)
    config = tmp_path / "swiftwal.conf"
    config.write_text(f"STORAGE=file://{tmp_path}/store\nCACHE_DIR={tmp_path}/cache\n")
    (tmp_path / "store").mkdir()
    (tmp_path / "cache").mkdir()
    stored = run_cli(["archive-wal", "--config", str(config), str(tmp_path / "pg_wal" / name)])
    assert stored[0] == 0, stored
    fetched = run_cli(["restore-wal", f"--config={config}", "-v", name, str(tmp_path / "back")])
    assert fetched[0] == 0, fetched
    assert (tmp_path / "back").read_bytes() == content


def test_the_workers_are_not_offered_but_still_parse():
    status, _out, err = run_cli(["bogus"])
    assert status == 2 and "'list-wal'" in err and "worker" not in err
    status, out, _err = run_cli(["--help"])
    assert status == 0 and "list-wal" in out and "worker" not in out
    for worker in ("archive-worker", "restore-worker"):
        assert cli.build_parser([worker]).parse_args(["-v", worker]).command == worker


def json_error(argv):
    """``(status, the error object, stderr)`` of a run that must print one."""
    import json

    status, out, err = run_cli(argv)
    assert len(out.splitlines()) == 1, out
    document = json.loads(out)
    assert document["error"]["status"] == status and set(document) == {"error"}
    assert len(err.splitlines()) == 1 and err.startswith("swiftwal: error: "), err
    return status, document["error"], err


def test_a_failing_command_run_with_json_prints_its_error_as_json(tmp_path):
    (tmp_path / "store").mkdir()
    store = ["--storage", f"file://{tmp_path}/store"]
    status, error, _ = json_error([*store, "verify", "--json"])
    assert (status, error["kind"]) == (12, "backup-not-found") and "no backup" in error["message"]
    status, error, _ = json_error(["--config", str(tmp_path / "missing.conf"), "list-wal", "--json"])
    assert (status, error["kind"]) == (3, "config")
    status, error, err = json_error([*store, "prune", "--json"])  # a usage error once --json is read
    assert (status, error["kind"]) == (2, "usage") and "--keep-backups" in error["message"]
    assert error["hint"] == "see 'swiftwal prune --help'" and error["hint"] in err
    status, error, _ = json_error([*store, "info", "--json", "--keep-days", "3"])
    assert (status, error["kind"]) == (2, "usage")
    # Without --json, or before argparse has read it, only the line on stderr.
    assert run_cli([*store, "verify"])[:2] == (12, "")
    assert run_cli([*store, "prune", "--keep-backups", "x", "--json"])[:2] == (2, "")


@pytest.mark.parametrize("argv, named", [
    (["info", "--keep-wals", "2"], "--keep-wals"),
    (["info", "--keep-days", "7", "--json"], "--keep-days"),
    (["verify", "20130828T1810Z", "--all"], "20130828T1810Z"),
    (["check", "--no-archive-test", "--timeout", "5"], "--timeout"),
    (["restore", "latest", "/nonexistent/t", "--no-recovery-settings", "--standby"], "--standby"),
    (["restore", "latest", "/nonexistent/t", "--no-recovery-settings", "--target-name", "n"],
     "--target-name"),
    (["restore", "latest", "/nonexistent/t", "--no-recovery-settings", "--target-xid", "7"],
     "--target-xid"),
    (["restore", "latest", "/nonexistent/t", "--no-recovery-settings",
      "--target-time", "2020-01-01T00:00:00Z", "--target-action", "promote"], "--target-action"),
])
def test_an_option_without_effect_is_a_usage_error(tmp_path, argv, named):
    status, _out, err = run_cli(["--storage", f"file://{tmp_path}/none", *argv])
    assert status == 2 and len(err.splitlines()) == 1, err
    assert named in err and "has no effect" in err


def test_the_same_options_with_effect_still_run(tmp_path):
    (tmp_path / "store").mkdir()
    store = ["--storage", f"file://{tmp_path}/store"]
    assert run_cli([*store, "info", "--keep-backups", "1", "--keep-wals", "2", "--keep-days", "1"])[0] == 0
    assert run_cli([*store, "verify", "--all"])[0] == 12  # no backup, not a usage error
    assert run_cli([*store, "verify"])[0] == 12

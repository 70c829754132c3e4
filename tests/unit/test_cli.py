"""The command line never answers with a traceback: any argument list gives
either success or one ``swiftwal: error:`` line and a documented status."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swiftwal import cli
from tests.support.inprocess import run_cli
from swiftwal.domain import errors

documented = {status for _kind, status in cli.EXIT_STATUSES} | {0, 1, cli.EXIT_INTERRUPTED}
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
        assert cli.exit_status(kind("x") if kind is not errors.ToolFailed else kind("t", 1)) in documented


option_values = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1,
                        max_size=12).filter(lambda v: not v.startswith("-"))


@st.composite
def global_options(draw):
    argv = []
    for flags, key, _ in draw(st.lists(st.sampled_from(cli.GLOBAL_OPTIONS), max_size=6)):
        flag = draw(st.sampled_from(flags))
        if key == "":
            argv.append(flag)
            continue
        value = draw(st.sampled_from(cli._CHOICES[key]) if key in cli._CHOICES else option_values)
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
    values, config_file, switches, rest = cli.split_global_options(argv)
    expected = {k: v for k, v in cli.cli_settings(args).items() if v is not None}
    assert values == expected
    assert config_file == args.config
    assert switches == {s for s in ("--verbose", "--debug") if getattr(args, s[2:])}
    assert rest == argv[len(argv) - len(rest):] and rest[0] == command


@pytest.mark.parametrize("argv", [["-cFILE", "archive-wal", "x"], ["--bogus", "archive-wal", "x"],
                                  ["--config"], ["--debug=1", "archive-wal", "x"],
                                  ["--compression", "lz4", "archive-wal", "x"]])
def test_the_fast_option_parser_declines_what_it_does_not_know(argv):
    assert cli.split_global_options(argv) is None

"""The command line never answers with a traceback: any argument list gives
either success or one ``swiftwal: error:`` line and a documented status."""
from __future__ import annotations


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

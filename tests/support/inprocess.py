"""Run the ``swiftwal`` command line inside the test process (no servers, fast)."""
from __future__ import annotations

import contextlib
import io


def run_cli(argv) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``swiftwal ARGV``; ``--help`` exits 0."""
    from swiftwal import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exit:
            status = exit.code
    return status, out.getvalue(), err.getvalue()

"""info --prometheus run as a command, and its file beside a dead run's: a file
that cannot be written, or no prometheus-client, is a one-line error; other
commands never import prometheus-client; a dead run's temporary file is cleared."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swiftwal.adapters import metrics

ROOT = Path(__file__).resolve().parents[2]


def test_a_stale_temp_file_of_a_dead_run_is_cleared(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".swiftwal.prom.swiftwal-{dead.pid}"
    stale.write_text("half")
    metrics.write(str(tmp_path / "swiftwal.prom"), b"x 1\n")
    assert sorted(os.listdir(tmp_path)) == ["swiftwal.prom"]


@pytest.mark.parametrize("where, said", [("missing/swiftwal.prom", "no directory"),
                                         (".", "is a directory")])
def test_a_file_that_cannot_be_written_is_a_one_line_usage_error(tmp_path, where, said):
    result = _swiftwal(tmp_path, "info", "--prometheus", str(tmp_path / where))
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_without_prometheus_client_the_error_names_the_extra(tmp_path):
    result = _swiftwal(tmp_path, "info", "--prometheus", str(tmp_path / "swiftwal.prom"),
                       hide_client=True)
    assert result.returncode == 3 and result.stderr.count("\n") == 1, result.stderr
    assert "prometheus-client" in result.stderr and "swiftwal[prometheus]" in result.stderr


def test_other_commands_never_import_prometheus_client(tmp_path):
    code = ("import sys; from swiftwal import cli; cli.main(sys.argv[1:]); "
            "print('prometheus_client' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, f"--storage=file://{tmp_path}/store",
                             "info", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


def _swiftwal(tmp_path, *argv, hide_client=False) -> subprocess.CompletedProcess:
    hide = "sys.modules['prometheus_client'] = None; " if hide_client else ""
    code = f"import sys; {hide}from swiftwal import cli; sys.exit(cli.main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, f"--storage=file://{tmp_path}/store",
                           *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)

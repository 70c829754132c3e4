"""systemd itself finds nothing to complain about in contrib/systemd
(``systemd-analyze verify``, a process of its own)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.systemd_units import FILES, SWIFTWAL


def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (Debian's systemd, which "
                    "scripts/install-deps installs): systemd's own check of contrib/systemd "
                    "cannot run", pytrace=False)
    # Wherever swiftwal is installed here: verify checks that each command exists.
    here = Path(sys.executable).with_name("swiftwal")
    for path in FILES:
        text = path.read_text().replace(SWIFTWAL, str(here) if here.exists() else "/bin/true")
        (tmp_path / path.name).write_text(text)
    # A template is checked through an instance of it.
    shutil.copy(tmp_path / "swiftwal-failure@.service",
                tmp_path / "swiftwal-failure@swiftwal-backup.service.service")
    units = [str(p) for p in sorted(tmp_path.iterdir()) if "@." not in p.name]
    result = subprocess.run([analyze, "verify", "--man=no", *units], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if line.strip()]
    assert result.returncode == 0 and not complaints, "\n".join(complaints)

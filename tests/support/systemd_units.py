"""The systemd units of contrib/systemd, as the tests read them."""
from __future__ import annotations

from pathlib import Path

UNITS = Path(__file__).resolve().parents[2] / "contrib" / "systemd"
FILES = sorted(p for p in UNITS.iterdir() if p.suffix in (".service", ".timer"))
#: Where the units expect swiftwal.
SWIFTWAL = "/opt/swiftwal/venv/bin/swiftwal"

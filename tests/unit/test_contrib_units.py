"""The systemd units in contrib/systemd: every swiftwal command they run is one the
command line accepts and every unit they name is there (systemd's own check,
``systemd-analyze verify``, is in tests/integration/test_systemd_units.py)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from swiftwal import cli
from tests.support.systemd_units import FILES, SWIFTWAL, UNITS


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """``{section: [(key, value), ...]}``: systemd allows a key more than once
    (ExecStart= of a oneshot), which configparser refuses."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None and re.fullmatch(r"[A-Za-z]+", key), \
            f"{path.name}:{number}: not a KEY=value line in a section"
        current.append((key, value))
    return sections


def values(path: Path, key: str) -> list[str]:
    return [v for entries in parse_unit(path).values() for k, v in entries if k == key]


def swiftwal_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in FILES:
        for key in ("ExecStart", "ExecStartPre"):
            for command in values(path, key):
                words = shlex.split(command.replace("${SWIFTWAL_CONFIG}", "/etc/swiftwal/x.conf"))
                if words[0] == SWIFTWAL:
                    found.append((f"{path.name}: {command}", words[1:]))
    return found


def test_the_units_are_there_and_each_is_key_value_lines_in_sections():
    assert {p.name for p in FILES} >= {"swiftwal-backup.service", "swiftwal-backup.timer",
                                        "swiftwal-prune.service", "swiftwal-metrics.service",
                                        "swiftwal-metrics.timer", "swiftwal-failure@.service"}
    for path in FILES:
        sections = parse_unit(path)
        assert "Unit" in sections, path.name
        assert ("Service" in sections) == (path.suffix == ".service"), path.name


@pytest.mark.parametrize("where, argv", swiftwal_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_swiftwal_command_they_run_is_accepted_by_the_command_line(where, argv):
    args = cli.build_parser(argv).parse_args(argv)
    assert args.command and args.config, where


def test_every_unit_they_start_is_one_of_them():
    names = {p.name for p in FILES}
    for path in FILES:
        for key in ("OnFailure", "OnSuccess", "Unit"):
            for named in values(path, key):
                template = re.sub(r"@.*\.service$", "@.service", named)
                assert template in names, f"{path.name}: {key}={named}"
        if path.suffix == ".timer" and not values(path, "Unit"):
            assert path.with_suffix(".service").name in names


def test_the_backup_and_prune_services_report_their_failures():
    for name in ("swiftwal-backup.service", "swiftwal-prune.service"):
        assert values(UNITS / name, "OnFailure") == ["swiftwal-failure@%n.service"], name


def test_the_metrics_file_is_a_prom_file_the_textfile_collector_reads():
    (command,) = values(UNITS / "swiftwal-metrics.service", "ExecStart")
    words = shlex.split(command)
    target = words[words.index("--prometheus") + 1]
    assert target.endswith(".prom") and target.startswith("/var/lib/prometheus/node-exporter/")

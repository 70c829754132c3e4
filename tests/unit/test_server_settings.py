"""check's verdicts on the server's settings (``swiftwal.domain.server_settings``)."""
from __future__ import annotations

import shlex

from hypothesis import given, strategies as st

from swiftwal.domain.server_settings import (FAIL, OK, SKIP, WARN, ArchiveCall, Finding,
                                             judge_archive_call, judge_server,
                                             read_archive_command, skip_archive_test,
                                             unusable_config)

modes = st.sampled_from(["on", "always", "off", "shared"])
levels = st.sampled_from(["minimal", "replica", "logical", "archive"])
servers = st.fixed_dictionaries({
    "archive_mode": modes, "wal_level": levels, "archive_command": st.just(""),
    "max_wal_senders": st.integers(0, 20), "replication": st.booleans(),
    "version": st.just(150000), "in_recovery": st.booleans()})
findings = st.builds(Finding, st.just("archive_command"), st.sampled_from([OK, WARN, FAIL]),
                     st.text(max_size=20))
stores = st.tuples(st.sampled_from(["swift", "file:///a", "file:///b"]),
                   st.none() | st.sampled_from(["wal", "other"]))
paths = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="/._-"),
                min_size=1, max_size=30)


@given(servers, findings)
def test_each_setting_is_judged_once_in_order_and_fails_exactly_when_wrong(server, command):
    found = judge_server(server, command)
    assert [f.check for f in found] == ["archive_mode", "wal_level", "archive_command",
                                        "replication"]
    assert found[2] == command
    assert (found[0].status == FAIL) == (server["archive_mode"] not in ("on", "always"))
    assert (found[1].status == FAIL) == (server["wal_level"] not in ("replica", "logical"))
    assert (found[3].status == OK) == (server["replication"] and server["max_wal_senders"] > 0)
    assert all(f.status in (OK, FAIL) for f in found[:2] + found[3:])
    assert all(f.hint for f in found[:2] + found[3:] if f.status == FAIL)


@given(paths, st.sampled_from(["", "--config={}", "--config {}", "-c {}", "-c{}"]), paths)
def test_the_swiftwal_call_is_read_with_its_config_file(directory, form, config):
    tool = f"/{directory}/swiftwal"
    option = shlex.split(form.format(shlex.quote(config))) if form else []
    command = shlex.join([tool, *option, "archive-wal", "%p"])
    assert read_archive_command(command) == ArchiveCall(tool, config if form else None)


@given(st.sampled_from(["cp %p /archive/%f", "swiftwal archive-wal", "/bin/true", "",
                        "swiftwal restore-wal %f %p", "'unbalanced", "/opt/swiftwal-old archive-wal %p"]))
def test_a_command_that_does_not_archive_with_swiftwal_is_a_failure(command):
    found = read_archive_command(command)
    assert isinstance(found, Finding) and found.status == FAIL


@given(st.sampled_from(["swiftwal", "/usr/bin/swiftwal"]), st.none() | paths, st.booleans(),
       stores, stores, st.booleans())
def test_archive_command_is_ok_only_when_it_runs_and_archives_into_this_store(
        tool, config, tool_runs, ours, theirs, readable):
    call = ArchiveCall(tool, config)
    read = (theirs if readable else unusable_config("broken", None)) \
        if tool_runs and config is not None else None
    found = judge_archive_call(call, tool_runs, read, ours)
    assert found.check == "archive_command"
    if not tool_runs:
        assert found.status == FAIL and tool in found.message
    elif config is None:
        assert found.status == WARN
    else:
        assert (found.status == OK) == (readable and ours == theirs)
        assert found.status in (OK, FAIL)


@given(st.booleans(), st.none() | servers, st.booleans())
def test_the_archive_test_runs_only_on_a_server_that_archives_into_a_working_store(
        not_wanted, server, store_ok):
    skipped = skip_archive_test(not_wanted, server, store_ok)
    runs = (not not_wanted and server is not None and store_ok
            and server["archive_mode"] in ("on", "always") and not server["in_recovery"])
    assert (skipped is None) == runs
    assert skipped is None or (skipped.status == SKIP and skipped.check == "archive-test")

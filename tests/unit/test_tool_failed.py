"""A child process's failure in one line: its real cause, its control characters shown."""
from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.domain.errors import (CAUSE_CHARACTERS, CAUSE_LINES, ToolFailed, stderr_cause,
                                    visible)

# pg_basebackup 15 against a port nobody listens on: the cause, then libpq's hint
# on a line of its own that starts with a tab.
NO_SERVER = ('pg_basebackup: error: connection to server on socket "/tmp/.s.PGSQL.1" failed: '
             'No such file or directory\n'
             '\tIs the server running locally and accepting connections on that socket?\n')


def test_the_cause_is_kept_when_a_hint_follows_it():
    error = ToolFailed("pg_basebackup", 1, NO_SERVER)
    assert error.message == (
        'pg_basebackup failed (exit status 1): pg_basebackup: error: connection to server on '
        'socket "/tmp/.s.PGSQL.1" failed: No such file or directory | ^IIs the server running '
        'locally and accepting connections on that socket?')
    assert error.stderr_tail == NO_SERVER


def test_a_tool_that_said_nothing_or_did_not_start():
    assert ToolFailed("pigz", 2).message == "pigz failed (exit status 2)"
    assert ToolFailed("pg_basebackup", None, "[Errno 2] No such file or directory").message == \
        "pg_basebackup failed (could not start): [Errno 2] No such file or directory"


@given(st.text())
@example("\t\x1b[31mred\x1b[0m\x7f\x00\u2028\x85")
def test_visible_text_is_printable_and_shows_control_characters_as_text(text):
    shown = visible(text)
    assert shown.isprintable()
    assert "\\t" not in shown or "\\t" in text  # never repr's escapes
    if text.isprintable():
        assert shown == text
    assert visible("\t") == "^I" and visible("\x1b") == "^[" and visible("\x7f") == "^?"
    assert visible("\u2028") == "<U+2028>"


@given(st.lists(st.text(), max_size=12))
def test_the_cause_is_one_printable_line_of_the_last_lines(lines):
    stderr = "\n".join(lines)
    cause = stderr_cause(stderr)
    assert cause.isprintable() and len(cause) <= CAUSE_CHARACTERS
    kept = [visible(line.rstrip()) for line in stderr.replace("\r\n", "\n").replace("\r", "\n")
            .split("\n") if line.strip()]
    if not kept:
        assert cause == ""
    elif len(" | ".join(kept[-CAUSE_LINES:])) <= CAUSE_CHARACTERS:
        assert cause == " | ".join(kept[-CAUSE_LINES:])
    else:
        assert cause.startswith("...") and " | ".join(kept[-CAUSE_LINES:]).endswith(cause[3:])


def test_progress_redraws_count_as_lines():
    assert stderr_cause("1/10 kB (10%)\r5/10 kB (50%)\rpg_basebackup: error: out of space\n") \
        == "1/10 kB (10%) | 5/10 kB (50%) | pg_basebackup: error: out of space"

"""A child process (pg_basebackup, pigz) failed: its error, and all it said."""
from __future__ import annotations

from swiftwal.domain.errors import ToolFailed, visible

#: What is kept of a child's stderr: far more than pg_basebackup --verbose
#: writes when it fails, little memory when a tool is chatty.
STDERR_KEPT = 64 * 1024


def tool_failed(tool: str, exit_code: int | None, stderr: str) -> ToolFailed:
    """The one-line error carries the last lines of ``stderr``; all of it
    goes to a debug event, which ``--debug`` (and ``--verbose``) show."""
    from swiftwal import events, logs

    logs.get_logger().debug(events.TOOL_FAILED, tool=tool, exit_code=exit_code,
                            stderr="\n".join(visible(line) for line in stderr.splitlines()))
    return ToolFailed(tool, exit_code, stderr)

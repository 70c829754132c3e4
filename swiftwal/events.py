"""Stable event names of the structured logs (monitoring depends on them).

Every event logged is one of these constants; docs/manual.md (Monitoring)
lists each with its level and keys, and tests check both.  Each command ends
with one summary event; a failure has an event of its own, never a success
event with a flag.  Keys are snake_case: ``segment``, ``wal_name``,
``timeline``, ``bytes``, ``stored_bytes``, ``duration_s``, ``backup``,
``exit_code``, ``error_code``.
"""

WAL_ARCHIVED = "wal.archived"
WAL_ALREADY_ARCHIVED = "wal.already_archived"
WAL_ARCHIVE_FAILED = "wal.archive_failed"
WAL_RESTORED = "wal.restored"
WAL_RESTORE_MISSED = "wal.restore_missed"
WORKER_STARTED = "worker.started"
WAL_FETCHED_AHEAD = "wal.fetched_ahead"
WAL_FETCH_AHEAD_FAILED = "wal.fetch_ahead_failed"
BACKUP_STARTED = "backup.started"
BACKUP_PROGRESS = "backup.progress"
BACKUP_COMPLETED = "backup.completed"
BACKUP_INCREMENTAL_REFUSED = "backup.incremental_refused"
RESTORE_COMPLETED = "restore.completed"
PRUNE_PLANNED = "prune.planned"
PRUNE_COMPLETED = "prune.completed"
PRUNE_WARNING = "prune.warned"
CLEANUP_COMPLETED = "archive_cleanup.completed"
VERIFY_COMPLETED = "verify.completed"
METRICS_WRITTEN = "metrics.written"
TOOL_FAILED = "tool.failed"
CONFIG_WARNING = "config.warning"
COMMAND_FAILED = "command.failed"

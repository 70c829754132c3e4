"""A plain call of archive-wal or restore-wal as its fast path sees it:
parsed without argparse, answered through a worker
(``swiftwal.adapters.workers``), logged as the full command would."""
from __future__ import annotations

import os
import time


class FastCall:
    def __init__(self, command: str, settings, options: list[str], args: list[str],
                 verbose: bool) -> None:
        self.command_name, self.settings, self.options = command, settings, options
        self.args, self.verbose = args, verbose
        self.fmt = settings.log_format or "console"
        self.started = time.monotonic()

    @classmethod
    def parse(cls, argv: list[str], command: str, count: int, switch: str):
        """The call, or None when it is not ``[options] command ARG...`` with
        ``count`` arguments, or the setting ``switch`` is 0.  Settings that
        cannot be loaded raise their ``ConfigError`` here, before any work:
        the worker would only have failed on them in its log file."""
        from swiftwal import config, options

        parsed = options.split_global_options(argv)
        if parsed is None:
            return None
        values, config_file, switches, rest = parsed
        if len(rest) != count + 1 or rest[0] != command or any(
                a.startswith("-") for a in rest[1:]):
            return None
        settings = config.load_settings(values, config_file, os.environ)
        if settings.integer(switch, 1) <= 0:
            return None
        return cls(command, settings, argv[:len(argv) - len(rest)], rest[1:],
                   bool(switches & {"--verbose", "--debug"}))

    def ask(self, directory: str, wal_name: str, payload: str, worker: str, start: bool = True):
        """The worker's answer (``swiftwal.adapters.workers.ask``), or None:
        then the call does the work itself.  A final error is raised, and
        logged first as the full command would."""
        from swiftwal.adapters import workers

        answer = workers.ask(directory, wal_name, payload, self.options, worker, start)
        if answer is None or answer.kind != "error":
            return answer
        error = workers.decode_error(answer)
        if error is None:
            return None
        if self.fmt == "json":
            from swiftwal import events, logs

            logs.configure(self.fmt, self.verbose, light=True)
            logs.get_logger().error(events.COMMAND_FAILED, command=self.command_name,
                                    error_code=error.code, msg=error.message)
        raise error

    def done(self, event: str, **fields) -> int:
        """Log the command's summary event (and config warnings); exit 0."""
        from swiftwal import events, logs

        logs.configure(self.fmt, self.verbose, light=True)
        log = logs.get_logger()
        for warning in self.settings.warnings:
            log.warning(events.CONFIG_WARNING, msg=warning)
        log.info(event, **fields, duration_s=round(time.monotonic() - self.started, 3))
        return 0

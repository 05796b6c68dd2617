"""Why ingest could not start: a clear line in the log and exit code 1, not a traceback."""


class StartupError(RuntimeError):
    pass

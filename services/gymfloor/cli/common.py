"""What every command module uses: how a command is registered, the one kind of usage error,
the stop signal of long-running commands, and where output goes."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from gymfloor.storage.pagination import Page

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

log = logging.getLogger("gymfloor")

Run = Callable[[argparse.Namespace, Any], int]
"""A command: its flags and its settings (`Settings`, or what its `read_settings` gives)."""
ReadSettings = Callable[[dict[str, Any]], Any]
"""The settings from the environment, with the setting flags given (by path) laid over them."""


class UsageError(Exception):
    """Input the command cannot work with (a missing file, flags that contradict each other),
    found before anything is built: `main` prints it with the command's usage and exits 2."""


def add_command(
    subparsers: Subparsers,
    name: str,
    run: Run,
    read_settings: ReadSettings | None = None,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """The parser of a command (or of an action of one) that `run` carries out. Its usage goes
    with its errors. Its settings are all of them (`Settings`) unless it reads them itself."""
    command = subparsers.add_parser(name, **kwargs)
    command.set_defaults(run=run, parser=command, read_settings=read_settings)
    return command


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C: the way every long-running command learns to stop."""
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if stopping.is_set():  # a second Ctrl-C: the user means it
            raise KeyboardInterrupt
        log.info("stopping (%s)", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopping


@contextmanager
def output(path: Path | None) -> Iterator[TextIO]:
    """The file at `path`, closed after the block, or stdout when there is none."""
    if path is None:
        yield sys.stdout
        return
    with path.open("w") as file:
        yield file


def print_all(fetch: Callable[[str | None], Page[Any]]) -> None:
    """Every item of a paged list, as JSON Lines."""
    cursor = None
    while True:
        page = fetch(cursor)
        for item in page.items:
            print(item.model_dump_json())
        if page.next_cursor is None:
            return
        cursor = page.next_cursor

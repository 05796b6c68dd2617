"""A write-ahead spool of line protocol on disk, between ingest and the InfluxDB sender.

One writer (the ingest service's thread) appends each flush's points to the active segment, a
file of complete lines; one reader (the sender thread) takes chunks from the oldest segment on,
and acknowledges each once InfluxDB has taken it. The read position (segment and byte offset)
is saved in a small sidecar file after every acknowledgement, so a restart sends again at most
the chunk that was in flight, which InfluxDB then overwrites with identical points.

A write that reaches the kernel survives the death of the process; `sync` makes the spool
survive a power cut too, and ingest calls it before each checkpoint lets the journal go.
Segments are deleted once sent; past `max_bytes` the oldest is dropped, points and all, so a
long outage cannot fill the disk.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("gymfloor.timeseries")

SUFFIX = ".lp"
PROGRESS = "progress"
MAX_SEGMENT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    """Lines of one segment, from byte `start` to `end`."""

    segment: int
    start: int
    end: int
    body: bytes
    lines: int


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int | None = None) -> None:
        """`segment_bytes`: when the active segment is closed and a new one started; by default
        a sixteenth of `max_bytes`, at most 4 MiB, so that dropping one loses little."""
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or min(MAX_SEGMENT_BYTES, max_bytes // 16)
        self.points_dropped = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._sizes: dict[int, int] = {}  # every segment on disk, in order, and its bytes
        self._lines: dict[int, int] = {}
        for number in sorted(int(p.stem) for p in directory.glob(f"*{SUFFIX}") if p.stem.isdigit()):
            data = self._path(number).read_bytes()
            self._sizes[number], self._lines[number] = len(data), data.count(b"\n")
        read, offset = self._load_progress()
        for number in [n for n in self._sizes if n < read]:  # sent before a crash
            self._remove(number)
        # A fresh segment to append to: the last one may end in a line a crash cut short.
        self._active = max(self._sizes, default=0) + 1
        self._fd = self._open(self._active)
        if read not in self._sizes:  # its segment was sent, or dropped, and deleted
            read, offset = min(self._sizes), 0
        self._read, self._offset = read, min(offset, self._sizes[read])
        self._sent_lines = 0  # lines before `_offset` in segment `_read`
        if self._offset:
            with self._path(read).open("rb") as segment:
                self._sent_lines = segment.read(self._offset).count(b"\n")
        self._backlog = sum(self._lines.values()) - self._sent_lines

    # -- writer ---------------------------------------------------------------------------------

    def append(self, lines: list[str]) -> None:
        """Add points, one line each. Raises OSError (a full disk) having written nothing."""
        data = ("\n".join(lines) + "\n").encode()
        with self._lock:
            size = self._sizes[self._active]
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:
                os.ftruncate(self._fd, size)  # no partial line for the next append to run into
                raise
            self._sizes[self._active] += len(data)
            self._lines[self._active] += len(lines)
            self._backlog += len(lines)
            if self._sizes[self._active] >= self.segment_bytes:
                os.fsync(self._fd)  # `sync` only sees the active segment
                os.close(self._fd)
                self._active += 1
                self._fd = self._open(self._active)
            while sum(self._sizes.values()) > self.max_bytes and len(self._sizes) > 1:
                self._drop_oldest()

    def sync(self) -> None:
        """Make what was appended so far survive a power cut."""
        with self._lock:
            os.fsync(self._fd)
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory)  # the names of new segments
            finally:
                os.close(directory)

    def close(self) -> None:
        with self._lock:
            os.close(self._fd)

    # -- reader ---------------------------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """Points appended and not yet acknowledged."""
        with self._lock:
            return self._backlog

    def read(self, max_lines: int) -> Chunk | None:
        """The next unacknowledged lines, at most `max_lines`; None when there are none. The same
        chunk comes again until it is acknowledged."""
        with self._lock:
            while True:
                end = self._sizes[self._read]
                if self._offset < end:
                    chunk = self._read_chunk(end, max_lines)
                    if chunk.lines:
                        return chunk
                    log.warning("skipped a line cut short in %s", self._path(self._read))
                    self._offset = end
                elif self._read == self._active:
                    return None
                else:  # wholly sent
                    self._remove(self._read)
                    self._next_segment()

    def ack(self, chunk: Chunk) -> None:
        """InfluxDB has the chunk's points."""
        with self._lock:
            if (chunk.segment, chunk.start) != (self._read, self._offset):
                return  # its segment was dropped while the chunk was on its way
            self._offset = chunk.end
            self._sent_lines += chunk.lines
            self._backlog -= chunk.lines
            self._save_progress()

    # -- internals (with the lock held) ---------------------------------------------------------

    def _read_chunk(self, end: int, max_lines: int) -> Chunk:
        lines: list[bytes] = []
        position = self._offset
        with self._path(self._read).open("rb") as segment:
            segment.seek(position)
            while len(lines) < max_lines and position < end:
                line = segment.readline(end - position)
                if not line.endswith(b"\n"):  # only a crash leaves one, at a segment's end
                    break
                lines.append(line)
                position += len(line)
        return Chunk(self._read, self._offset, position, b"".join(lines), len(lines))

    def _drop_oldest(self) -> None:
        oldest = min(self._sizes)
        lost = self._lines[oldest] - (self._sent_lines if oldest == self._read else 0)
        self._remove(oldest)
        self._backlog -= lost
        self.points_dropped += lost
        log.error(
            "time-series spool over %d bytes: dropped its oldest %d points",
            self.max_bytes,
            lost,
            extra={"points_dropped": self.points_dropped},
        )
        if oldest == self._read:
            self._next_segment()

    def _next_segment(self) -> None:
        self._read = min(n for n in self._sizes if n > self._read)
        self._offset = self._sent_lines = 0
        self._save_progress()

    def _remove(self, number: int) -> None:
        self._path(number).unlink(missing_ok=True)
        del self._sizes[number], self._lines[number]

    def _open(self, number: int) -> int:
        self._sizes[number] = self._lines[number] = 0
        return os.open(self._path(number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:016d}{SUFFIX}"

    def _load_progress(self) -> tuple[int, int]:
        try:
            segment, offset = (self.directory / PROGRESS).read_text().split()
            return int(segment), int(offset)
        except (OSError, ValueError):  # none yet, or torn by a power cut: start at the oldest
            return 0, 0

    def _save_progress(self) -> None:
        temporary = self.directory / f"{PROGRESS}.tmp"
        temporary.write_text(f"{self._read} {self._offset}\n")
        temporary.replace(self.directory / PROGRESS)

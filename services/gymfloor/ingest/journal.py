"""The ingest journal: every MQTT message, on disk before the broker hears it was received.

paho acknowledges a QoS 1 message when the message callback returns, and the callback appends
the message here first. Whatever the process then loses in memory (a kill, a crash) is rebuilt
on start from the last checkpoint plus the journal segments after it. Segments are numbered; a
checkpoint names the last segment it has absorbed, and that one and older ones are deleted.

A write that reaches the kernel survives the death of the process, so the journal is not
fsynced per message; a power cut can cost what the OS had not yet flushed.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

from gymfloor.ingest.intake import Message

log = logging.getLogger("gymfloor.ingest")

# Frame: payload length, received_at, topic length; then the topic and the payload.
HEADER = struct.Struct("<IdH")
SUFFIX = ".journal"


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.segment = max([0, *(n + 1 for n in self.segments())])
        self._fd = self._open(self.segment)

    def write_after(self, segment: int) -> None:
        """Write new messages to a segment after `segment`: a checkpoint that covers it may have
        let every segment go, and a new one numbered below it would never be replayed."""
        if self.segment <= segment:
            os.close(self._fd)
            self._path(self.segment).unlink(missing_ok=True)  # opened, never written
            self.segment = segment + 1
            self._fd = self._open(self.segment)

    def segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob(f"*{SUFFIX}") if p.stem.isdigit())

    def append(self, messages: Sequence[Message]) -> int:
        """Write messages, in one system call; returns the segment they went into."""
        frames: list[bytes] = []
        for message in messages:
            topic = message.topic.encode()
            header = HEADER.pack(len(message.payload), message.received_at, len(topic))
            frames += (header, topic, message.payload)
        os.write(self._fd, b"".join(frames))
        return self.segment

    def rotate(self) -> int:
        """Start a new segment; returns the number of the one just closed."""
        closed = self.segment
        os.close(self._fd)
        self.segment += 1
        self._fd = self._open(self.segment)
        return closed

    def replay(self, from_segment: int) -> Iterator[Message]:
        """Every message in the segments from `from_segment` on, in the order written."""
        for number in self.segments():
            if from_segment <= number < self.segment:
                yield from _read_segment(self._path(number))

    def drop_before(self, segment: int) -> None:
        for number in self.segments():
            if number < segment:
                self._path(number).unlink(missing_ok=True)

    def close(self) -> None:
        os.close(self._fd)

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:012d}{SUFFIX}"

    def _open(self, number: int) -> int:
        return os.open(self._path(number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def _read_segment(path: Path) -> Iterator[Message]:
    data = path.read_bytes()
    offset = 0
    while offset + HEADER.size <= len(data):
        length, received_at, topic_length = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        end = start + topic_length + length
        if end > len(data):
            break
        topic = data[start : start + topic_length].decode()
        yield Message(topic, data[start + topic_length : end], received_at)
        offset = end
    if offset != len(data):
        # The process died inside a write; that message was never acknowledged, so the broker
        # delivers it again.
        log.warning("journal %s ends in a partial message; ignoring its last bytes", path.name)

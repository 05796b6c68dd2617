"""A recording's lines decoded for the analysis: in this process, batch by batch, or ahead of
it in a second one, in chunks.

On two cores the decoding need not wait for the detector, nor the detector for the decoding.
Past start-up, decoding a line (msgspec, then its samples into numpy) costs about as much as
detecting on it, and start-up is mostly numba loading the compiled kernel. `decoded_ahead` forks,
before the analysis imports numba, a process that decodes the whole recording while the analysis
is still starting, and hands it over in chunks through a pipe. Both ways decode and validate each
line with the same code (`decoded_lines`), and give the detector the same, in the same order.

This module imports neither numba nor the detector: forking after them would start the
decoding only once the analysis is ready for it.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, NamedTuple, NoReturn

import numpy as np

from gymfloor.contract import (
    ContractError,
    MachineChannel,
    MachineKey,
    RecordedMessage,
    SessionPayload,
    StatusPayload,
    TelemetryBatch,
    TelemetryPayload,
    TopicError,
    decode_line,
    parse_machine_topic,
)
from gymfloor.contract.payloads import decode_payload, to_batch

CHUNK_LINES = 512
CHUNK_SAMPLES = 1 << 14
"""A chunk ends at this many lines or values (128 KiB), whichever comes first. Small: a chunk's
samples wait as Python floats until the chunk is complete, and while they fit the processor's
caches the chunks cost a third as much as chunks of 4096 lines did."""
PIPE_BYTES = 1 << 20
AHEAD_CHUNKS = 256
"""Chunks the decoding process may hold that the analysis has not taken yet: its memory bound,
about 40 MiB (enough for the whole of a 25 MB recording, decoded while the kernel loads)."""


class Skipped(NamedTuple):
    """A line that is not a valid message, why, and where on the line if that is known."""

    reason: str
    column: int | None = None


Decoded = TelemetryBatch | SessionPayload | Skipped | None
"""What the detector is given for a line; None: a valid message with nothing to detect in it
(a status, or what gymfloor itself publishes)."""


class Chunk(NamedTuple):
    """Lines decoded, column by column: one entry per line that is not blank, in order.
    Columns, because one object per line would cost most of what decoding ahead saves: a list
    of tuples takes five times as long to unpickle as these arrays."""

    line_no: np.ndarray  # int64
    key: list[MachineKey | None]  # None for a skipped line
    n: np.ndarray  # int64: samples per channel, 0 for a line that is not telemetry
    seq: np.ndarray  # int64; this and the columns below hold 0 or None where n is 0
    boot: list[str | None]
    t0: np.ndarray  # float64
    hz: np.ndarray  # float64
    sacral: np.ndarray  # bool: whether the batch has the seat pad's channel
    load_kg: list[float | None]
    others: list[Decoded]
    """What each line that is not telemetry decodes to, in order."""
    samples: np.ndarray
    """float64, NaN for `null`: each batch's channels (sled, lumbar, sacral), one after another."""


class DecodingFailed(RuntimeError):
    """The decoding process failed or disappeared: the analysis cannot be completed."""


# -- decoding -------------------------------------------------------------------------------


Line = tuple[int, MachineKey | None, TelemetryPayload | SessionPayload | Skipped | None]


def decoded_lines(lines: Iterable[bytes]) -> Iterator[Line]:
    """(line_no, machine, payload) for every line that is not blank: each line decoded and
    validated as `dispatch` does for the live service; the machine is None for a skipped line."""
    for line_no, raw in enumerate(lines, start=1):
        try:
            message = decode_line(raw)
        except ContractError as exc:
            yield line_no, None, Skipped(exc.reason, exc.column)
            continue
        if message is None:  # a blank line
            continue
        try:
            key, payload = _decode_message(message)
        except (ContractError, TopicError) as exc:
            yield line_no, None, Skipped(f"{message.topic}: {exc}")
            continue
        yield line_no, key, payload


def _decode_message(
    message: RecordedMessage,
) -> tuple[MachineKey, TelemetryPayload | SessionPayload | None]:
    key, channel = parse_machine_topic(message.topic)
    if channel is MachineChannel.TELEMETRY:
        return key, decode_payload(TelemetryPayload, message.payload)
    if channel is MachineChannel.SESSION:
        return key, decode_payload(SessionPayload, message.payload)
    if channel is MachineChannel.STATUS:
        decode_payload(StatusPayload, message.payload)  # validated, as ingest does
    return key, None


def decoded_here(lines: Iterable[bytes]) -> Iterator[tuple[int, MachineKey | None, Decoded]]:
    """What `messages` gives, decoded in this process, batch by batch."""
    for line_no, key, payload in decoded_lines(lines):
        if isinstance(payload, TelemetryPayload):
            yield line_no, key, to_batch(payload)
        else:
            yield line_no, key, payload


def decode_chunks(lines: Iterable[bytes]) -> Iterator[Chunk]:
    """The lines decoded (`decoded_lines`), in chunks."""
    chunk = _ChunkBuilder()
    for line_no, key, payload in decoded_lines(lines):
        if isinstance(payload, TelemetryPayload):
            assert key is not None
            chunk.telemetry(line_no, key, payload)
        else:
            chunk.other(line_no, key, payload)
        if len(chunk.rows) >= CHUNK_LINES or len(chunk.samples) >= CHUNK_SAMPLES:
            yield chunk.build()
            chunk = _ChunkBuilder()
    if chunk.rows:
        yield chunk.build()


class _ChunkBuilder:
    """A chunk as it fills: a tuple a line, turned into columns at the end (which is faster
    than appending to each column as it goes)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, MachineKey | None, int, int, str | None, float, float, bool,
                              float | None]] = []  # fmt: skip
        self.others: list[Decoded] = []
        self.samples: list[float | None] = []
        self._boots: dict[str | None, str | None] = {}

    def telemetry(self, line_no: int, key: MachineKey, batch: TelemetryPayload) -> None:
        # One string object per boot id: pickled once, then referred to.
        boot = self._boots.setdefault(batch.boot, batch.boot)
        sacral = batch.sacral_kpa
        n = len(batch.sled_mm)
        self.rows.append(
            (line_no, key, n, batch.seq, boot, batch.t0, batch.hz, sacral is not None,
             batch.load_kg)
        )  # fmt: skip
        # The samples of a whole chunk become one array at once: a few times cheaper than an
        # array per channel and batch (`to_batch`), and the same values, `null` as NaN.
        self.samples += batch.sled_mm
        self.samples += batch.lumbar_kpa
        if sacral is not None:
            self.samples += sacral

    def other(self, line_no: int, key: MachineKey | None, decoded: Decoded) -> None:
        self.rows.append((line_no, key, 0, 0, None, 0.0, 0.0, False, None))
        self.others.append(decoded)

    def build(self) -> Chunk:
        line_no, key, n, seq, boot, t0, hz, sacral, load_kg = zip(*self.rows, strict=True)
        return Chunk(
            np.array(line_no, dtype=np.int64),
            list(key),
            np.array(n, dtype=np.int64),
            np.array(seq, dtype=np.int64),
            list(boot),
            np.array(t0, dtype=np.float64),
            np.array(hz, dtype=np.float64),
            np.array(sacral, dtype=np.bool_),
            list(load_kg),
            self.others,
            np.array(self.samples, dtype=np.float64),
        )


def messages(chunks: Iterable[Chunk]) -> Iterator[tuple[int, MachineKey | None, Decoded]]:
    """(line_no, machine, what to give the detector) for every line that is not blank, in
    order; the machine is None for a skipped line."""
    for chunk in chunks:
        samples, others = chunk.samples, iter(chunk.others)
        at = 0
        rows = zip(
            chunk.line_no.tolist(),
            chunk.key,
            chunk.n.tolist(),
            chunk.seq.tolist(),
            chunk.boot,
            chunk.t0.tolist(),
            chunk.hz.tolist(),
            chunk.sacral.tolist(),
            chunk.load_kg,
            strict=True,
        )
        for line_no, key, n, seq, boot, t0, hz, sacral, load_kg in rows:
            if not n:
                yield line_no, key, next(others)
                continue
            # Views of the chunk's array: the detector reads them and keeps none.
            sled, lumbar, at = samples[at : at + n], samples[at + n : at + 2 * n], at + 2 * n
            seat = None
            if sacral:
                seat, at = samples[at : at + n], at + n
            yield line_no, key, TelemetryBatch(seq, boot, t0, hz, sled, lumbar, seat, load_kg)


# -- ahead, in a process of its own ------------------------------------------------------------


def can_decode_ahead() -> bool:
    """Whether a second process would run beside this one rather than take turns with it."""
    if not hasattr(os, "fork"):
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) > 1


@contextmanager
def decoded_ahead(lines: Iterable[bytes]) -> Iterator[Iterator[Chunk]]:
    """`decode_chunks(lines)`, computed by a forked process from now on. The lines are read
    there (so is stdin), and the chunks arrive in order; DecodingFailed if that process fails.
    Leaving the block early stops it."""
    read_fd, write_fd = os.pipe()
    _widen(write_fd)
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _decode_into(lines, write_fd)
    os.close(write_fd)
    reader = os.fdopen(read_fd, "rb")
    done: list[bool] = []
    try:
        yield _received(reader, done)
    finally:
        reader.close()
        if not done:  # it may be waiting for lines (stdin) rather than for the pipe
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _widen(fd: int) -> None:
    """A pipe of 1 MiB where the system allows it (Linux): the analysis reads 20 MB through it
    in far fewer turns than 64 KiB at a time."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # the default size works, in more turns


def _decode_into(lines: Iterable[bytes], fd: int) -> NoReturn:
    """The decoding process: chunks into the pipe, then the end (None) or the failure (str)."""
    status = 1
    try:
        outbox = _Outbox(fd)
        try:
            for chunk in decode_chunks(lines):
                outbox.send(_frame(chunk))
            outbox.send(_frame(None))
        except BrokenPipeError:
            raise  # the analysis stopped reading (it failed, or was interrupted)
        except Exception:
            outbox.send(_frame(traceback.format_exc()))
        outbox.wait_until(0)
        status = 0
    finally:
        # Never back into the parent's code: its cleanup and buffered output are the parent's.
        os._exit(status)


def _frame(item: Chunk | str | None) -> bytes:
    body = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack("<Q", len(body)) + body


class _Outbox:
    """Frames for the pipe, written as far as it takes them without waiting, so that decoding
    goes on while the analysis is not reading yet; past AHEAD_CHUNKS, it waits. (A writing
    thread took the interpreter lock from the decoding in 5 ms turns, and the analysis waited.)"""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending: deque[memoryview] = deque()
        os.set_blocking(fd, False)

    def send(self, frame: bytes) -> None:
        self.pending.append(memoryview(frame))
        self._write()
        self.wait_until(AHEAD_CHUNKS)

    def wait_until(self, most: int) -> None:
        """Write, waiting for the pipe, until at most `most` frames are left to write."""
        while len(self.pending) > most:
            select.select([], [self.fd], [])
            self._write()

    def _write(self) -> None:
        while self.pending:
            try:
                written = os.write(self.fd, self.pending[0])
            except BlockingIOError:
                return
            rest = self.pending[0][written:]
            if rest:  # the pipe is full
                self.pending[0] = rest
                return
            self.pending.popleft()


def _received(reader: IO[bytes], done: list[bool]) -> Iterator[Chunk]:
    while True:
        header = reader.read(8)
        if len(header) < 8:
            raise DecodingFailed("the decoding process ended before the recording did")
        (size,) = struct.unpack("<Q", header)
        body = reader.read(size)
        if len(body) < size:
            raise DecodingFailed("the decoding process ended in the middle of a chunk")
        item = pickle.loads(body)
        if item is None:
            done.append(True)
            return
        if isinstance(item, str):
            raise DecodingFailed(f"decoding the recording failed:\n{item}")
        yield item

"""A leg press for the tests: the real edge agent, with a driver that checks a member in (or not)
and then sends an idle machine's readings until it is closed, holding them back while paused.

`python -m tests.support.machines URL GYM MACHINE OUTBOX_DIR [MEMBER]` runs one as a process of
its own, so that a test can kill it without a DISCONNECT (and the broker publishes its will).
"""

from __future__ import annotations

import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from gymfloor.contract import MachineKey
from gymfloor.mqtt import MqttOptions
from gymfloor_edge.agent import EdgeAgent
from gymfloor_edge.driver import Frame, SessionChange
from gymfloor_edge.outbox import Outbox
from gymfloor_edge.uplink import Uplink

HZ = 50.0
FRAME_S = 0.1


class SeatedDriver:
    def __init__(self, member: str | None) -> None:
        self.member = member
        self.paused = threading.Event()
        self._closed = threading.Event()

    def readings(self) -> Iterator[Frame | SessionChange]:
        if self.member is not None:
            session = f"s-{self.member}-{secrets.token_hex(3)}"
            yield SessionChange("start", time.time(), session, self.member, load_kg=100.0)
        n = round(FRAME_S * HZ)
        t = time.time()
        while not self._closed.wait(FRAME_S):
            if self.paused.is_set():
                t = time.time()  # nothing sent: the sensors are silent
                continue
            yield Frame(t, HZ, [5.0] * n, [2.0] * n)
            t += n / HZ

    def close(self) -> None:
        self._closed.set()


class Machine:
    """A machine's agent on a thread of this process."""

    def __init__(self, url: str, key: MachineKey, outbox_dir: Path, member: str | None) -> None:
        self.driver = SeatedDriver(member)
        options = MqttOptions(url=url, reconnect_max_s=1)
        outbox = Outbox(outbox_dir / f"{key.machine_id}.outbox")
        uplink = Uplink(options, f"edge-{key.machine_id}", outbox, machine=key)
        self.agent = EdgeAgent(key, self.driver, uplink)
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.agent.run, args=(self.stopping,))

    def start(self) -> Machine:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stopped as an operator stops it: the agent says goodbye (`offline`) before leaving."""
        self.stopping.set()
        self.join(30)
        assert not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


def main(argv: list[str]) -> None:
    url, gym, machine_id, outbox_dir, *member = argv
    machine = Machine(url, MachineKey(gym, machine_id), Path(outbox_dir), next(iter(member), None))
    signal.signal(signal.SIGTERM, lambda *_: machine.stopping.set())
    machine.start().join()


if __name__ == "__main__":
    main(sys.argv[1:])

"""Many simulated machines in one process, each with its own agent and broker connection, as a
floor of real ones would be: for demos and load tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from gymfloor.contract import MachineKey
from gymfloor.mqtt import MqttOptions
from gymfloor_edge.agent import EdgeAgent
from gymfloor_edge.outbox import Outbox
from gymfloor_edge.simulator import Member, member_pool
from gymfloor_edge.sources import simulated_driver
from gymfloor_edge.uplink import Uplink

log = logging.getLogger("gymfloor.edge")


def simulated_agent(
    options: MqttOptions,
    machine: MachineKey,
    seed: int,
    outbox: Path | None,
    batch_interval_s: float = 0.1,
    speed: float = 1.0,
    outbox_max_messages: int = 200_000,
    members: Sequence[Member] = (),
) -> EdgeAgent:
    uplink = Uplink(
        options,
        f"gymfloor-edge-{machine.gym_id}-{machine.machine_id}",
        Outbox(outbox, outbox_max_messages),
        machine=machine,
    )
    driver = simulated_driver(seed, machine.machine_id, speed, members)
    return EdgeAgent(machine, driver, uplink, batch_interval_s)


def run_fleet(
    options: MqttOptions,
    gym_id: str,
    machines: int,
    seed: int,
    stopping: threading.Event,
    outbox_dir: Path | None = None,
    batch_interval_s: float = 0.1,
    speed: float = 1.0,
    members: int = 0,
) -> None:
    """Run `machines` simulated leg presses (lp-01, lp-02, …) until `stopping` is set, visited
    by `members` recurring members (0: every visit by a new one)."""
    pool = member_pool(seed, members)
    agents = []
    for index in range(machines):
        key = MachineKey(gym_id, f"lp-{index + 1:02d}")
        outbox = outbox_dir / f"{key.machine_id}.outbox" if outbox_dir else None
        agents.append(
            simulated_agent(
                options, key, seed + index, outbox, batch_interval_s, speed, members=pool
            )
        )
    threads = [
        threading.Thread(target=agent.run, args=(stopping,), name=str(agent.machine))
        for agent in agents
    ]
    for thread in threads:
        thread.start()
    log.info("%d simulated machines running in gym %s", machines, gym_id)
    for thread in threads:
        thread.join()

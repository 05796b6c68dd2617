"""One message in, everything it leads to out: the ingest service's logic, without any I/O.

    MQTT message → dispatch (validation, detector) → feedback, staff alerts, rep reports
                 → messages to publish (returned) and rows for the store (`take_changes`)

The service around it does the network, the journal and the database; this part is what a
replay of the journal runs again after a restart, so it must be deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gymfloor.coaching import CUES
from gymfloor.contract import (
    ContractError,
    Feedback,
    MachineChannel,
    MachineKey,
    RepReport,
    SessionPayload,
    StaffAlert,
    StatusPayload,
    TelemetryBatch,
    TopicError,
    alerts_topic,
    parse_machine_topic,
)
from gymfloor.detector import (
    Detector,
    DetectorConfig,
    DetectorOutput,
    DetectorSnapshot,
    FaultDetected,
    SetEnded,
)
from gymfloor.dispatch import Dispatched, dispatch
from gymfloor.ingest.alerts import AlertPolicy, PolicySnapshot
from gymfloor.ingest.config import AlertPolicyConfig
from gymfloor.ingest.offline import OfflineSnapshot, OfflineWatch
from gymfloor.ingest.rejects import RejectLog
from gymfloor.outputs import Changes, MachineStatus, Trace, unix_ns

NOT_REGISTERED = "machine {gym}/{machine} is not registered"
"""The reason an unregistered machine's message is refused, as logged and echoed."""

PRESENCE_RESOLUTION_S = 1.0
"""How fresh a machine's `last_message_at` is kept; finer would cost a write per message."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class PipelineSnapshot:
    detector: DetectorSnapshot
    policy: PolicySnapshot
    presence: dict[MachineKey, MachineStatus]
    offline: OfflineSnapshot | None = None
    """None in a checkpoint written before the offline watch existed."""


@dataclass(slots=True)
class PipelineCounters:
    messages: int = 0
    feedback: int = 0
    alerts: int = 0
    reports: int = 0
    unregistered: int = 0


class Pipeline:
    def __init__(
        self,
        detector: Detector,
        policy: AlertPolicy,
        rejects: RejectLog | None = None,
        trace_hz: float | None = None,
        offline: OfflineWatch | None = None,
    ) -> None:
        """`trace_hz`: also downsample the telemetry into `Changes.trace`, for the staff board
        and the time-series sink; None spares the work (detection alone: tests, benchmarks)."""
        self.detector = detector
        self.policy = policy
        self.offline = offline or OfflineWatch(
            policy.config.offline_after_s, detector.config.idle_timeout_s
        )
        self.rejects = rejects or RejectLog()
        self.counters = PipelineCounters()
        self.presence: dict[MachineKey, MachineStatus] = {}
        # The machines whose messages are accepted; None: any machine. The task sets it from
        # the registry, so that refusing a machine needs no I/O here. Not part of a snapshot:
        # a replay after a restart is judged by the registry of then.
        self.registry: frozenset[MachineKey] | None = None
        self._changes = Changes()
        self._trace_period_ns = None if trace_hz is None else round(1e9 / trace_hz)

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> PipelineSnapshot:
        """Everything the pipeline remembers now (picklable), for `restore` after a restart. It
        takes next to no time: the detector and the policy copy a machine's state only when it
        next changes, or when the snapshot is written."""
        return PipelineSnapshot(
            self.detector.snapshot(),
            self.policy.snapshot(),
            dict(self.presence),
            self.offline.snapshot(),
        )

    @classmethod
    def restore(
        cls,
        snapshot: PipelineSnapshot,
        detector_config: DetectorConfig,
        policy_config: AlertPolicyConfig,
        trace_hz: float | None = None,
    ) -> Pipeline:
        # The settings may have changed across the restart: the new ones apply.
        policy = AlertPolicy.restore(policy_config, snapshot.policy)
        detector = Detector.restore(detector_config, snapshot.detector)
        offline = OfflineWatch.restore(
            policy_config.offline_after_s,
            detector_config.idle_timeout_s,
            # A checkpoint pickled before the field existed lacks it altogether.
            getattr(snapshot, "offline", None),
        )
        pipeline = cls(detector, policy, trace_hz=trace_hz, offline=offline)
        pipeline.presence = dict(snapshot.presence)
        return pipeline

    # -- input ---------------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes, received_at: float, live: bool) -> list[Outgoing]:
        """Process one message. `live` is False while the journal is replayed after a restart:
        the world has moved on, so nothing is published then, but everything is stored."""
        try:
            key, channel = parse_machine_topic(topic)
        except TopicError as exc:
            return self._reject(None, topic, payload, str(exc), received_at, live)
        if self.registry is not None and key not in self.registry:
            self.counters.unregistered += 1
            refused = NOT_REGISTERED.format(gym=key.gym_id, machine=key.machine_id)
            return self._reject(key, topic, payload, refused, received_at, live)
        try:
            dispatched = dispatch(self.detector, key, channel, payload)
        except ContractError as exc:
            return self._reject(key, topic, payload, str(exc), received_at, live)
        self.counters.messages += 1
        self._note_presence(dispatched, received_at)
        offline_alert = self._watch_presence(dispatched, received_at)
        if isinstance(dispatched.payload, SessionPayload):
            self._changes.sessions.append((dispatched.machine, dispatched.payload))
        batch = dispatched.payload if isinstance(dispatched.payload, TelemetryBatch) else None
        if batch is not None and self._trace_period_ns is not None:
            downsample(
                self._changes.trace,
                dispatched.machine,
                batch,
                self._trace_period_ns,
                self.detector.baseline_kpa(dispatched.machine),
            )
        if not dispatched.outputs and offline_alert is None:  # most messages
            return []
        outgoing = self._route(dispatched.outputs, batch)
        if offline_alert is not None:
            outgoing.append(self._offline_change(offline_alert))
        return outgoing if live else []

    def sweep(self) -> list[Outgoing]:
        """Forget machines that have gone silent, settling their last rep."""
        before = set(self.detector.machines)
        outgoing = self._route(self.detector.evict_idle(self.detector.clock), None)
        self.policy.forget(before - set(self.detector.machines))
        return outgoing

    def check_offline(self, now: float) -> list[Outgoing]:
        """Judge the silence of machines with a member on them, on ingest's clock `now`."""
        return [self._offline_change(alert) for alert in self.offline.check(now)]

    def resume(self, now: float) -> None:
        """Serving live from `now`, after a restart: ingest's own absence is no machine's
        silence."""
        self.offline.resume(now)

    def take_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        return changes

    # -- internals -----------------------------------------------------------------------------

    def _route(self, outputs: list[DetectorOutput], batch: TelemetryBatch | None) -> list[Outgoing]:
        outgoing: list[Outgoing] = []
        for output in outputs:
            if isinstance(output, FaultDetected):
                outgoing.append(self._feedback(output, batch))
                alert = self.policy.judge(output)
                if alert is not None:
                    self.counters.alerts += 1
                    self._changes.alerts.append(alert)
                    outgoing.append(Outgoing(alerts_topic(alert.gym_id), alert.encode()))
            elif isinstance(output, RepReport):
                self.counters.reports += 1
                self._changes.reports.append(output)
                key = MachineKey(output.gym_id, output.machine_id)
                outgoing.append(
                    Outgoing(key.topic(MachineChannel.REPS), output.model_dump_json().encode())
                )
            elif isinstance(output, SetEnded):
                self.policy.set_ended(output.machine)
        return outgoing

    def _watch_presence(self, dispatched: Dispatched, received_at: float) -> StaffAlert | None:
        machine, payload = dispatched.machine, dispatched.payload
        if isinstance(payload, TelemetryBatch):
            return self.offline.heard(machine, received_at)
        if isinstance(payload, StatusPayload):
            return self.offline.status(machine, payload, received_at)
        if isinstance(payload, SessionPayload):
            return self.offline.session(machine, payload, received_at)
        return None

    def _offline_change(self, alert: StaffAlert) -> Outgoing:
        """An outage's alert raised, or (with `cleared_at`) cleared: stored and published."""
        if alert.cleared_at is None:
            self.counters.alerts += 1
            self._changes.alerts.append(alert)
        else:
            self._changes.cleared.append(alert)
        return Outgoing(alerts_topic(alert.gym_id), alert.encode())

    def _feedback(self, fault: FaultDetected, batch: TelemetryBatch | None) -> Outgoing:
        self.counters.feedback += 1
        cue = Feedback(
            t=round(fault.t, 3),
            rep=fault.rep,
            fault=fault.fault,
            cue=CUES[fault.fault],
            boot=batch.boot if batch else None,
            seq=batch.seq if batch else None,
        )
        return Outgoing(fault.machine.topic(MachineChannel.FEEDBACK), cue.encode())

    def _note_presence(self, dispatched: Dispatched, received_at: float) -> None:
        key = dispatched.machine
        known = self.presence.get(key)
        if isinstance(dispatched.payload, StatusPayload):
            state = dispatched.payload.state
        else:  # a machine that sends data is online, whatever its last status said
            state = "online"
        if known is not None and known.state == state:
            if received_at - known.last_message_at < PRESENCE_RESOLUTION_S:
                return
            since = known.state_since
        else:
            since = received_at
        status = MachineStatus(state, since, received_at)
        self.presence[key] = self._changes.machines[key] = status

    def _reject(
        self,
        key: MachineKey | None,
        topic: str,
        payload: bytes,
        reason: str,
        received_at: float,
        live: bool,
    ) -> list[Outgoing]:
        """`key`: the topic's machine, None for a topic that names none."""
        echo = self.rejects.reject(key, topic, reason, payload, received_at)
        if echo is None or key is None or not live:
            return []
        return [Outgoing(key.topic(MachineChannel.REJECTED), echo.encode())]


def downsample(
    traces: dict[MachineKey, Trace],
    machine: MachineKey,
    batch: TelemetryBatch,
    period_ns: int,
    baseline_kpa: float,
) -> None:
    """Add to the machine's trace in `traces` (starting it if need be) the batch's samples that
    open a time bucket of `period_ns` (buckets counted from the Unix epoch), each stamped with
    its bucket's start; the lumbar ratio is taken against the baseline the detector holds after
    the batch (NaN: none yet), which moves only between reps.

    Decimation rather than averaging, because it needs no memory: a sample opens its bucket if
    the sample one period before it on the batch's own grid falls in an earlier bucket, which
    the batch alone tells, even when a bucket straddles two batches (the usual case, as batches
    do not start on bucket boundaries). So every bucket gets exactly one point, a journal replay
    derives the same points again, and nothing goes into the checkpoint; averaging would need
    per-machine partial sums carried across batches and checkpoints, or would write two partial
    points per straddling bucket. For a panel at 10 Hz of a movement well below 1 Hz, taking one
    sample per bucket shows the same curve. Integer nanoseconds keep the buckets exact.

    The loop visits the buckets the batch spans (one or two, usually), not its samples: this
    runs for every batch, and numpy's per-call overhead cost more than the work (7 µs to 2)."""
    step = round(1e9 / batch.hz)
    t0 = unix_ns(batch.t0)
    n = len(batch.sled_mm)
    for bucket in range((t0 - step) // period_ns + 1, (t0 + (n - 1) * step) // period_ns + 1):
        first = -((t0 - bucket * period_ns) // step)  # the first sample at or after its start
        if first < n and (t0 + first * step) // period_ns == bucket:
            trace = traces.get(machine)
            if trace is None:
                trace = traces[machine] = Trace(machine)
            trace.t_ns.append(bucket * period_ns)
            trace.sled_mm.append(batch.sled_mm.item(first))
            lumbar = batch.lumbar_kpa.item(first)
            trace.lumbar_kpa.append(lumbar)
            trace.lumbar_ratio.append(lumbar / baseline_kpa if baseline_kpa > 0 else math.nan)

// The floor board: a tile per machine, the live alert feed, and the selected machine's set.
import { AuthError, FAULTS, Session, ago, clock, drawFaultDots, el, faultChips, faultLegend, signIn } from "./common.js";
import { MACHINE_OFFLINE } from "./faults.js";

const MACHINES_EVERY_MS = 3000;
const TRACE_EVERY_MS = 2000;
const ALERTS_SHOWN = 40;
const RECENT_FAULT_S = 120; // a tile stays marked this long after a faulty rep
// Dropped samples up to this long are bridged; a longer silence is left as a gap in the line,
// since a straight line across it would show a movement nobody made.
const BRIDGE_S = 1;
const SILENCE_COLOR = "#dee2e6"; // the colour of .key.silence in gymfloor.css

const session = new Session("gymfloor.staff-token");
const alerts = new Map(); // id → alert record, as the API gives it
const $ = (id) => document.getElementById(id);
let selected = null; // "gym/machine"
let chosen = false; // whether staff tapped the selected machine; if not, the plot follows faults
let plot = null;
let sound = null; // an AudioContext, once staff turned sound on
let timers = [];
let stopStream = null;

// -- machines ------------------------------------------------------------------------------

async function refreshMachines() {
  const page = await session.get("/v1/machines?limit=500");
  const now = Date.now() / 1000;
  $("machines").replaceChildren(...page.items.map((machine) => tile(machine, now)));
  markOffline();
  if (!chosen) show(latestFault(page.items));
}

// The machine whose last faulty rep is the newest, or null when none has had one.
function latestFault(machines) {
  let latest = null;
  for (const machine of machines) {
    if (machine.last_fault && (!latest || machine.last_fault.t_end > latest.last_fault.t_end)) latest = machine;
  }
  return latest && `${latest.gym_id}/${latest.machine_id}`;
}

// A machine that went offline with a member on it: its tile is marked while the alert is not
// cleared, straight from the alert feed, so the mark comes and goes with the stream's events.
function markOffline() {
  const down = new Set([...alerts.values()]
    .filter((a) => a.kind === MACHINE_OFFLINE && a.cleared_at == null)
    .map((a) => `${a.gym_id}/${a.machine_id}`));
  for (const node of document.querySelectorAll(".tile")) {
    const marked = down.has(node.dataset.machine);
    node.classList.toggle("offline-alert", marked);
    const note = node.querySelector(".tile-offline-alert");
    if (marked && !note) node.append(el("span", { class: "tile-offline-alert" }, "Offline mid-set"));
    if (!marked && note) note.remove();
  }
}

function tile(machine, now) {
  const key = `${machine.gym_id}/${machine.machine_id}`;
  const open = machine.current_session;
  const online = machine.state === "online";
  const recentFault = machine.last_fault && now - machine.last_fault.t_end < RECENT_FAULT_S;
  const classes = ["tile", online ? "online" : "offline", open ? "in-use" : "free"];
  if (recentFault) classes.push("recent-fault");
  if (key === selected) classes.push("selected");
  return el("button", {
      type: "button", class: classes.join(" "), "data-machine": key, "aria-pressed": String(key === selected),
      onclick: () => select(key),
    },
    el("span", { class: "tile-name" }, machine.machine_id),
    el("span", { class: "tile-gym" }, machine.gym_id),
    el("span", { class: "tile-state" }, online ? (open ? "In use" : "Free") : "Offline"),
    open ? el("span", { class: "tile-member" },
      open.member_id ?? "guest", open.load_kg ? ` · ${open.load_kg} kg` : "") : null,
    open ? el("span", { class: "tile-rep" }, repsSoFar(open.reps)) : null,
    machine.last_fault
      ? el("span", { class: "tile-fault" }, ...faultChips(machine.last_fault.faults),
        el("small", {}, ` ${ago(machine.last_fault.t_end, now)}`))
      : el("span", { class: "tile-fault quiet" }, "No faults"),
  );
}

function repsSoFar(reps) {
  return reps === 0 ? "No reps yet" : reps === 1 ? "1 rep" : `${reps} reps`;
}

// -- the selected machine's set --------------------------------------------------------------

// A tap pins the plot to the machine tapped; tapping it again lets the plot follow the latest
// fault once more.
function select(key) {
  chosen = !(chosen && key === selected);
  if (chosen) show(key);
  else refreshMachines().catch(report);
  $("set-mode").textContent = chosen ? "Tap the machine again to follow the latest fault." : "Following the latest fault.";
}

function show(key) {
  if (key === selected) return;
  selected = key;
  $("set-hint").hidden = selected !== null;
  $("set-view").hidden = selected === null;
  for (const node of document.querySelectorAll(".tile")) {
    node.classList.toggle("selected", node.dataset.machine === selected);
    node.setAttribute("aria-pressed", String(node.dataset.machine === selected));
  }
  if (plot) { plot.destroy(); plot = null; }
  if (selected) refreshTrace().catch(report);
}

async function refreshTrace() {
  if (!selected) return;
  const key = selected;
  const trace = await session.get(`/v1/machines/${key}/trace`);
  if (key !== selected) return;
  const faulty = trace.reps.filter((rep) => rep.faults.length).length;
  $("set-title").textContent = `${trace.machine_id}: ${trace.reps.length} reps, ${faulty} with a fault`;
  $("set-legend").replaceChildren(...faultLegend(), el("span", { class: "key silence" }, "No readings"));
  const box = $("plot");
  box.dataset.samples = String(trace.t.length);
  box.dataset.reps = String(trace.reps.length);
  box.dataset.faultyReps = String(faulty);
  const data = [trace.t, trace.sled_mm, trace.lumbar_ratio];
  if (plot) {
    plot.reps = trace.reps;
    plot.setData(data);
  } else {
    plot = new uPlot(setOptions(box.clientWidth), data, box);
    plot.reps = trace.reps;
  }
}

function setOptions(width) {
  return {
    width, height: Math.max(220, Math.min(340, Math.round(width * 0.4))),
    scales: { x: { time: true }, mm: { dir: -1 }, ratio: { range: [0, 1.4] } },
    axes: [
      {},
      { scale: "mm", label: "Sled depth (mm)" },
      { scale: "ratio", side: 1, label: "Lumbar ratio", grid: { show: false } },
    ],
    series: [
      {},
      { label: "Sled depth", scale: "mm", stroke: "#1d3557", width: 2, gaps: silences, value: (u, v) => v == null ? "–" : `${v.toFixed(0)} mm` },
      { label: "Lumbar ratio", scale: "ratio", stroke: "#2a9d8f", width: 2, gaps: silences, value: (u, v) => v == null ? "–" : v.toFixed(2) },
    ],
    hooks: { drawClear: [drawReps, drawSilences], draw: [drawLiftoffLine] },
  };
}

// Where a series' line breaks, in canvas pixels: wherever more than BRIDGE_S passes between two
// of its readings, whether the samples between were dropped (null) or never came. Replaces
// uPlot's own gaps, which break the line at every null.
function silences(u, seriesIdx, idx0, idx1) {
  const [t, values] = [u.data[0], u.data[seriesIdx]];
  const gaps = [];
  let last = null;
  for (let i = idx0; i <= idx1; i++) {
    if (values[i] == null) continue;
    if (last !== null && t[i] - t[last] > BRIDGE_S) {
      gaps.push([u.valToPos(t[last], "x", true), u.valToPos(t[i], "x", true)]);
    }
    last = i;
  }
  return gaps;
}

// The sled's silences as grey bands, so a break in the line reads as "no readings".
function drawSilences(u) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.fillStyle = SILENCE_COLOR;
  for (const [left, right] of silences(u, 1, 0, u.data[0].length - 1)) {
    ctx.fillRect(left, bbox.top, right - left, bbox.height);
  }
  ctx.restore();
}

// Each rep as a band, tinted by its first fault, numbered at the top; a mark at its deepest point.
function drawReps(u) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.font = `${Math.round(12 * devicePixelRatio)}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  for (const rep of u.reps ?? []) {
    const left = u.valToPos(rep.t_start, "x", true);
    const right = u.valToPos(rep.t_end, "x", true);
    if (right < bbox.left || left > bbox.left + bbox.width) continue;
    const color = rep.faults.length ? FAULTS[rep.faults[0]].color : "#6c757d";
    ctx.globalAlpha = rep.faults.length ? 0.16 : 0.06;
    ctx.fillStyle = color;
    ctx.fillRect(left, bbox.top, right - left, bbox.height);
    ctx.globalAlpha = 1;
    const bottom = u.valToPos(rep.t_bottom, "x", true);
    ctx.fillStyle = color;
    ctx.fillText(String(rep.rep), bottom, bbox.top + 14 * devicePixelRatio);
    drawFaultDots(ctx, bottom, bbox.top + 24 * devicePixelRatio, rep.faults);
  }
  ctx.restore();
}

// The ratio under which the back counts as off the pad.
function drawLiftoffLine(u) {
  const y = u.valToPos(0.5, "ratio", true);
  const { ctx, bbox } = u;
  ctx.save();
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = FAULTS.lumbar_liftoff.color;
  ctx.beginPath();
  ctx.moveTo(bbox.left, y);
  ctx.lineTo(bbox.left + bbox.width, y);
  ctx.stroke();
  ctx.restore();
}

// -- alerts --------------------------------------------------------------------------------

// An alert nobody has taken yet, unless it cleared by itself (a machine back online).
function needsSomeone(alert) {
  return alert.acknowledged_at === null && alert.cleared_at == null;
}

// Open critical alerts stay on top, however old, until someone takes them; then the other open
// ones, then the taken and the cleared ones; newest first within each.
function alertRank(alert) {
  if (!needsSomeone(alert)) return 2;
  return alert.severity === "critical" ? 0 : 1;
}

function renderAlerts() {
  const sorted = [...alerts.values()].sort((a, b) => alertRank(a) - alertRank(b) || b.t - a.t);
  const open = sorted.filter(needsSomeone).length;
  $("open-count").textContent = open ? `${open} open` : "";
  $("no-alerts").hidden = sorted.length > 0;
  $("alerts").replaceChildren(...sorted.slice(0, ALERTS_SHOWN).map(alertNode));
  markOffline();
}

// Each alert keeps its element while it stays the same, so a re-render (every alert, every
// acknowledgement) never swaps a button from under a finger about to tap it.
const alertNodes = new Map(); // id → { taken, cleared, node }
function alertNode(alert) {
  const taken = alert.acknowledged_at !== null;
  const cleared = alert.cleared_at != null;
  const known = alertNodes.get(alert.id);
  if (known && known.taken === taken && known.cleared === cleared) return known.node;
  const node = alertItem(alert);
  alertNodes.set(alert.id, { taken, cleared, node });
  return node;
}

function alertItem(alert) {
  const taken = alert.acknowledged_at !== null;
  const cleared = alert.cleared_at != null;
  return el("li", {
      class: `alert severity-${alert.severity}${taken ? " taken" : ""}${cleared ? " cleared" : ""}`,
      "data-alert": alert.id, "data-severity": alert.severity, "data-kind": alert.kind,
    },
    el("span", { class: "alert-head" },
      el("strong", {}, alert.machine_id), " ",
      el("span", { class: "severity" }, alert.severity), " ",
      el("time", {}, clock(alert.t))),
    el("span", { class: "alert-message" }, withoutMachine(alert)),
    cleared ? el("span", { class: "cleared-note" }, `Cleared ${clock(alert.cleared_at)}`) : null,
    taken
      ? el("span", { class: "taken-note" }, `Taken ${clock(alert.acknowledged_at)}`)
      : el("button", { type: "button", class: "ack", onclick: () => acknowledge(alert.id) }, "I'm on it"),
  );
}

// The published message names its machine, so that it reads on its own wherever it goes
// (MQTT, Grafana); the card's head names the machine already.
function withoutMachine(alert) {
  const prefix = `${alert.machine_id}: `;
  return alert.message.startsWith(prefix) ? alert.message.slice(prefix.length) : alert.message;
}

async function acknowledge(id) {
  const record = await session.post(`/v1/alerts/${encodeURIComponent(id)}/acknowledge`);
  alerts.set(record.id, record);
  renderAlerts();
}

// The newest alerts, and the open critical ones however old: those stay on top.
async function loadAlerts() {
  const pages = await Promise.all([
    session.get(`/v1/alerts?limit=${ALERTS_SHOWN}`),
    session.get(`/v1/alerts?severity=critical&acknowledged=false&limit=${ALERTS_SHOWN}`),
  ]);
  for (const page of pages) for (const alert of page.items) alerts.set(alert.id, alert);
  renderAlerts();
}

function onStreamEvent(type, data) {
  if (type === "alert") {
    const fresh = !alerts.has(data.id);
    alerts.set(data.id, data);
    if (fresh && data.severity === "critical") ring();
  } else if (type === "acknowledged") {
    const alert = alerts.get(data.alert_id);
    if (alert) alerts.set(alert.id, { ...alert, acknowledged_at: data.at, acknowledged_by: data.by });
  } else if (type === "cleared") {
    const alert = alerts.get(data.alert_id);
    if (alert) alerts.set(alert.id, { ...alert, cleared_at: data.at });
  }
  renderAlerts();
}

function onStreamState(state) {
  const badge = $("stream-state");
  badge.dataset.state = state;
  badge.textContent = state;
  // Alerts raised while the stream was away come back through Last-Event-ID; the first time,
  // the list fills what came before the stream.
  if (state === "live") loadAlerts().catch(report);
  if (state === "signed-out") showSignIn("Sign in again: the token stopped working.");
}

// -- sound ---------------------------------------------------------------------------------

function toggleSound() {
  // Browsers allow sound only after a tap, so the tap creates the audio context.
  sound = sound ? (sound.close(), null) : new AudioContext();
  $("sound").setAttribute("aria-pressed", String(sound !== null));
  $("sound").textContent = sound ? "Sound on" : "Sound off";
  if (sound) ring();
}

function ring() {
  document.body.classList.remove("flash");
  void document.body.offsetWidth; // restart the animation
  document.body.classList.add("flash");
  if (!sound) return;
  for (const [offset, hz] of [[0, 880], [0.25, 660], [0.5, 880]]) {
    const tone = sound.createOscillator();
    const gain = sound.createGain();
    tone.frequency.value = hz;
    gain.gain.value = 0.2;
    tone.connect(gain).connect(sound.destination);
    tone.start(sound.currentTime + offset);
    tone.stop(sound.currentTime + offset + 0.18);
  }
}

// -- start and stop --------------------------------------------------------------------------

function report(error) {
  if (error instanceof AuthError) showSignIn(error.message);
  else console.warn(error);
}

function showSignIn(message) {
  stop();
  $("floor").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in").querySelector(".message").textContent = message ?? "";
}

function stop() {
  timers.forEach(clearInterval);
  timers = [];
  if (stopStream) stopStream();
  stopStream = null;
}

async function start() {
  await refreshMachines(); // also proves the token
  $("floor").hidden = false;
  $("sign-in").hidden = true;
  stopStream = session.stream("/v1/alerts/stream", { onEvent: onStreamEvent, onState: onStreamState });
  timers.push(setInterval(() => refreshMachines().catch(report), MACHINES_EVERY_MS));
  timers.push(setInterval(() => refreshTrace().catch(report), TRACE_EVERY_MS));
}

signIn($("sign-in"), session, start);
$("sound").addEventListener("click", toggleSound);
$("sign-out").addEventListener("click", () => { session.signOut(); showSignIn(); });
new ResizeObserver(() => { if (plot) plot.setSize({ width: $("plot").clientWidth, height: plot.height }); })
  .observe($("plot"));
if (session.token) start().catch((error) => showSignIn(error instanceof AuthError ? error.message : String(error)));
else showSignIn();

// A member's session report, for a phone: the session's figures, its trend, coaching, and each rep.
import { AuthError, FAULTS, Session, clock, day, drawFaultDots, el, faultChips, faultLegend, signIn } from "./common.js";

const session = new Session("gymfloor.member-token");
const $ = (id) => document.getElementById(id);
let chart = null;
let progressCharts = [];
let trend = null;  // the member's trend, read once: it does not change with the session picked

const percent = (share) => `${Math.round(share * 100)} %`;

async function start() {
  const page = await session.get("/v1/me/sessions?limit=50"); // also proves the token
  $("sign-in").hidden = true;
  $("content").hidden = false;
  const picker = $("sessions");
  picker.replaceChildren(...page.items.map((s) => el("option", { value: s.session_id },
    `${day(s.t_start)} ${clock(s.t_start)} · ${s.machine_id} · ${s.reps} reps`)));
  $("no-sessions").hidden = page.items.length > 0;
  picker.parentElement.hidden = page.items.length === 0;
  trend = page.items.length ? await session.get("/v1/me/trend") : null;
  if (page.items.length) await show(page.items[0].session_id);
  showProgress(trend);
}

async function show(sessionId) {
  const report = await session.get(`/v1/me/sessions/${encodeURIComponent(sessionId)}`);
  const s = report.session;
  $("report").hidden = false;
  $("report").dataset.session = s.session_id;
  $("headline").textContent = s.faulty_reps === 0
    ? `${s.reps} reps, all clean.`
    : `${s.reps} reps, ${s.faulty_reps} with something to fix.`;
  const figures = [
    ["Load", s.load_kg === null ? "–" : `${s.load_kg} kg`],
    ["Average depth", s.mean_rom_mm === null ? "–" : `${Math.round(s.mean_rom_mm)} mm`],
    ["Average lowering", s.mean_eccentric_s === null ? "–" : `${s.mean_eccentric_s.toFixed(1)} s`],
    ["Back on the pad, at worst", s.min_lumbar_ratio === null ? "–" : percent(s.min_lumbar_ratio)],
  ];
  $("figures").replaceChildren(...figures.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  $("trend").textContent = trendText(report.trend);
  // The same advice, whether this session earned it or the sessions up to the newest did.
  const professional = report.see_a_professional ? report.coaching.at(-1) : trend?.advice;
  $("professional").hidden = !professional;
  $("professional").textContent = professional ?? "";
  const advice = report.see_a_professional ? report.coaching.slice(0, -1) : report.coaching;
  showCoaching(advice, report.key_cues);
  $("reps").tBodies[0].replaceChildren(...report.reps.map((rep) => el("tr", { "data-rep": rep.rep },
    el("td", {}, String(rep.rep)),
    el("td", {}, `${Math.round(rep.rom_mm)} mm`),
    el("td", {}, `${rep.eccentric_s.toFixed(1)} s`),
    el("td", {}, rep.min_lumbar_ratio === null ? "–" : percent(rep.min_lumbar_ratio)),
    el("td", {}, ...(rep.faults.length ? faultChips(rep.faults) : ["–"])))));
  drawChart(report.reps);
}

// What matters most stays in view (the server ranks it); the rest waits behind one tap.
function showCoaching(advice, keyCues) {
  const items = (list) => list.map((text) => el("li", {}, text));
  $("coaching").replaceChildren(...items(advice.length ? advice.slice(0, keyCues) : ["Good work: keep it exactly like this."]));
  const rest = advice.slice(keyCues);
  const more = $("more-coaching");
  more.hidden = rest.length === 0;
  more.open = false;
  more.querySelector("summary").textContent = `${rest.length} more ${rest.length === 1 ? "tip" : "tips"}`;
  more.querySelector("ul").replaceChildren(...items(rest));
}

function trendText(trend) {
  const n = trend.earlier_sessions.length;
  const against = trend.earlier_faulty_share === null ? ""
    : ` (${percent(trend.faulty_share)} of reps with a fault, against ${percent(trend.earlier_faulty_share)} over your last ${n} sessions)`;
  switch (trend.verdict) {
    case "first session": return "Your first session on record: the next ones will be compared with it.";
    case "better": return `Better than before${against}.`;
    case "worse": return `Harder going than before${against}.`;
    default: return `About the same as before${against}.`;
  }
}

function drawChart(reps) {
  const box = $("chart");
  box.dataset.reps = String(reps.length);
  box.dataset.faultyReps = String(reps.filter((rep) => rep.faults.length).length);
  $("chart-legend").replaceChildren(...faultLegend());
  if (chart) chart.destroy();
  const data = [reps.map((r) => r.rep), reps.map((r) => r.rom_mm), reps.map((r) => r.min_lumbar_ratio)];
  chart = new uPlot({
    width: box.clientWidth,
    height: 240,
    scales: { x: { time: false, range: (u, min, max) => [min - 0.6, max + 0.6] }, mm: { range: (u, min, max) => [0, max * 1.25] }, ratio: { range: [0, 1.4] } },
    axes: [
      { label: "Rep", incrs: [1, 2, 5, 10], values: (u, ticks) => ticks.map(String) },
      { scale: "mm", label: "Depth (mm)" },
      { scale: "ratio", side: 1, label: "Back on pad", grid: { show: false }, values: (u, ticks) => ticks.map(percent) },
    ],
    series: [
      { label: "Rep" },
      { label: "Depth", scale: "mm", stroke: "#1d3557", fill: "rgba(29,53,87,0.35)", paths: uPlot.paths.bars({ size: [0.6, 48] }), points: { show: false } },
      { label: "Back on pad, at worst", scale: "ratio", stroke: "#2a9d8f", width: 2, points: { size: 7 } },
    ],
    legend: { show: false },
    hooks: { draw: [(u) => drawFaults(u, reps)] },
  }, data, box);
}

// The member's last sessions: depth and lowering time, then the share of reps with each fault.
function showProgress(trend) {
  const points = trend?.sessions ?? [];
  $("progress").hidden = points.length === 0;
  if (!points.length) return;
  $("progress").dataset.sessions = String(points.length);
  $("progress-summary").textContent = trend.summary;
  $("progress-legend").replaceChildren(...faultLegend());
  for (const old of progressCharts) old.destroy();
  const x = points.map((_, i) => i + 1);
  // Sessions by number, oldest first: dates would crowd a phone's axis (the picker has them).
  const sessionAxis = { label: "Sessions, oldest to newest", incrs: [1, 2, 5, 10], values: (u, ticks) => ticks.map(String) };
  const small = (box, scales, axes, series, data) => new uPlot({
    width: box.clientWidth, height: 170, scales: { x: { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] }, ...scales },
    axes: [sessionAxis, ...axes], series: [{ label: "Session" }, ...series], legend: { show: false },
  }, [x, ...data], box);
  progressCharts = [
    small($("progress-depth"),
      { mm: { range: (u, min, max) => [0, max * 1.2] }, s: { range: (u, min, max) => [0, Math.max(4, max * 1.2)] } },
      [{ scale: "mm", label: "Depth (mm)" }, { scale: "s", side: 1, label: "Lowering (s)", grid: { show: false } }],
      [{ label: "Average depth", scale: "mm", stroke: "#1d3557", fill: "rgba(29,53,87,0.25)", paths: uPlot.paths.bars({ size: [0.5, 40] }), points: { show: false } },
       { label: "Average lowering", scale: "s", stroke: "#2a9d8f", width: 2, points: { size: 7 } }],
      [points.map((p) => p.mean_rom_mm), points.map((p) => p.mean_eccentric_s)]),
    small($("progress-faults"),
      { share: { range: [-0.04, 1.04] } },  // a margin, so that dots at 0 and 100 % show whole
      [{ scale: "share", label: "Share of reps", splits: () => [0, 0.5, 1], values: (u, ticks) => ticks.map(percent) }],
      Object.entries(FAULTS).map(([, { label, color }]) => ({ label, scale: "share", stroke: color, width: 2, points: { size: 6, fill: color } })),
      Object.keys(FAULTS).map((fault) => points.map((p) => p.fault_shares[fault]))),
  ];
}

// Above each faulty rep's bar, one dot per fault, in the fault's colour.
function drawFaults(u, reps) {
  const { ctx, bbox } = u;
  ctx.save();
  for (const rep of reps) {
    drawFaultDots(ctx, u.valToPos(rep.rep, "x", true), bbox.top + 8 * devicePixelRatio, rep.faults);
  }
  ctx.restore();
}

function showSignIn(message) {
  $("content").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in").querySelector(".message").textContent = message ?? "";
}

signIn($("sign-in"), session, start);
$("sessions").addEventListener("change", (event) => show(event.target.value).catch(console.warn));
$("sign-out").addEventListener("click", () => { session.signOut(); showSignIn(); });
new ResizeObserver(() => {
  if (chart) chart.setSize({ width: $("chart").clientWidth, height: chart.height });
  for (const plot of progressCharts) plot.setSize({ width: plot.root.parentElement.clientWidth, height: plot.height });
}).observe($("content"));
if (session.token) start().catch((error) => showSignIn(error instanceof AuthError ? error.message : String(error)));
else showSignIn();

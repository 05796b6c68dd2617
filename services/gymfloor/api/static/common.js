// What the board and the report page share: the token, calls to the API, the live stream,
// and how faults and times are shown.

// The labels come from the server (gymfloor.contract.FAULT_LABELS, served by routers/web.py),
// the colours match gymfloor.css.
import { FAULT_LABELS } from "./faults.js";

const COLORS = { lumbar_liftoff: "#d62828", excessive_rom: "#f77f00", uncontrolled_descent: "#7b2cbf" };

export const FAULTS = Object.fromEntries(Object.entries(FAULT_LABELS).map(([fault, label]) =>
  [fault, { label: label[0].toUpperCase() + label.slice(1), color: COLORS[fault] }]));

export class AuthError extends Error {}

// The token lives in this browser's local storage under a key per page, so a staff tablet
// and a member's phone each sign in once.
export class Session {
  constructor(storageKey) {
    this.storageKey = storageKey;
    const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
    if (fromLink) {
      // A link such as /report#token=… signs in; the fragment never reaches the server.
      localStorage.setItem(storageKey, fromLink);
      history.replaceState(null, "", location.pathname + location.search);
    }
  }
  get token() { return localStorage.getItem(this.storageKey); }
  set token(value) { localStorage.setItem(this.storageKey, value); }
  signOut() { localStorage.removeItem(this.storageKey); }

  async get(path) { return this.call("GET", path); }
  async post(path) { return this.call("POST", path); }

  async call(method, path) {
    const response = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, Accept: "application/json" },
    });
    if (response.status === 401 || response.status === 403) {
      throw new AuthError(response.status === 401 ? "That token is not valid." : "That token cannot open this page.");
    }
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
    return response.json();
  }

  // Server-Sent Events over fetch, since EventSource cannot send the Authorization header.
  // Reconnects on its own after the delay the server asked for, resuming with Last-Event-ID.
  stream(path, { onEvent, onState }) {
    let lastId = null;
    let retryMs = 2000;
    let stopped = false;
    const controller = new AbortController();
    const connect = async () => {
      while (!stopped) {
        try {
          const headers = { Authorization: `Bearer ${this.token}`, Accept: "text/event-stream" };
          if (lastId) headers["Last-Event-ID"] = lastId;
          const response = await fetch(path, { headers, signal: controller.signal });
          if (response.status === 401 || response.status === 403) {
            onState("signed-out");
            return;
          }
          if (!response.ok) throw new Error(`stream: ${response.status}`);
          onState("live");
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value.replace(/\r\n?/g, "\n");
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const event = parseEvent(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
              if (event.retry) retryMs = event.retry;
              if (event.id) lastId = event.id;
              if (event.data !== null) onEvent(event.type, JSON.parse(event.data));
            }
          }
        } catch (error) {
          if (stopped) return;
          console.warn("alert stream interrupted:", error.message);
        }
        onState("reconnecting");
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    };
    connect();
    return () => { stopped = true; controller.abort(); };
  }
}

function parseEvent(block) {
  const event = { type: "message", data: null, id: null, retry: null };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") data.push(value);
    else if (field === "id") event.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) event.retry = Number(value);
  }
  if (data.length) event.data = data.join("\n");
  return event;
}

// Builds an element; children are nodes or text (never parsed as HTML).
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function clock(t) {
  return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function day(t) {
  return new Date(t * 1000).toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });
}

export function ago(t, now = Date.now() / 1000) {
  const s = Math.max(0, Math.round(now - t));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

// One dot per fault, in the fault's colour, stacked down from `top` (canvas pixels).
export function drawFaultDots(ctx, x, top, faults) {
  faults.forEach((fault, i) => {
    ctx.fillStyle = FAULTS[fault].color;
    ctx.beginPath();
    ctx.arc(x, top + 11 * i * devicePixelRatio, 4.5 * devicePixelRatio, 0, 2 * Math.PI);
    ctx.fill();
  });
}

// What the colours of a chart mean.
export function faultLegend() {
  return Object.entries(FAULTS).map(([fault, { label }]) => el("span", { class: `key fault-${fault}` }, label));
}

export function faultChips(faults) {
  return faults.map((fault) =>
    el("span", { class: `chip fault-${fault}` }, FAULTS[fault]?.label ?? fault));
}

// The sign-in form both pages show until a token works.
export function signIn(form, session, onSignedIn) {
  const input = form.querySelector("input");
  const message = form.querySelector(".message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    session.token = input.value.trim();
    message.textContent = "";
    try {
      await onSignedIn();
      form.hidden = true;
      input.value = "";
    } catch (error) {
      session.signOut();
      message.textContent = error instanceof AuthError ? error.message : `Could not reach the server (${error.message}).`;
    }
  });
}

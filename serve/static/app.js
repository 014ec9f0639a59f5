// The operators' page: reads the API once, then follows /stream for what changes.
// Views come from the projections (GET /alerts, …); the stream says when to read them
// again, and carries the hourly CO2 balance itself (emissions.measured records).
import { drawCharts } from "./charts.js";
import { badge, checkHead as readHead } from "./ledger.js";
import { hourSpan, openHours, openLine, recentEvents, sealedHours } from "./emissions.js";

const TOKEN_KEY = "plumeline.token";
const HEAD_EVERY_MS = 10_000;
const CURRENT_EVERY_MS = 30_000;

const $ = (id) => document.getElementById(id);
const state = {
  token: localStorage.getItem(TOKEN_KEY) || "",
  // the token goes only where it is needed: commands always, reads once one was refused
  readsNeedToken: false,
  facilities: new Map(), // id -> {name, kind, sensors}
  balance: new Map(), // facility -> Map(window_end_ms -> EmissionsMeasured body)
  open: new Map(), // facility -> the open hour's estimate (GET /emissions/current)
  activeAlerts: new Map(), // facility -> count
  timers: new Map(),
};

// ---- HTTP ---------------------------------------------------------------------------

let asking = null;
function askToken(reason) {
  if (asking) return asking;
  $("token-reason").textContent = reason;
  $("token-input").value = "";
  const dialog = $("token-dialog");
  asking = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "save" && $("token-input").value.trim()) {
        state.token = $("token-input").value.trim();
        localStorage.setItem(TOKEN_KEY, state.token);
        connectStream();
      }
      asking = null;
      resolve();
    }, { once: true });
  });
  dialog.showModal();
  return asking;
}

async function request(path, options = {}, withToken = true) {
  const headers = { ...(options.headers || {}) };
  if (withToken && state.token) headers.Authorization = `Bearer ${state.token}`;
  return fetch(path, { ...options, headers });
}

async function getJSON(path) {
  const sentToken = state.readsNeedToken && Boolean(state.token);
  let r = await request(path, {}, sentToken);
  if (r.status === 401) {
    if (!state.readsNeedToken) {
      state.readsNeedToken = true;
      if (state.token) connectStream(); // the stream needs it as well
    }
    if (sentToken || !state.token) {
      await askToken("Reads on this deployment need a token (plumeline token create).");
    }
    r = await request(path);
  }
  if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.json()).error || ""}`);
  return r.json();
}

function say(text, error = false) {
  const m = $("message");
  m.textContent = text;
  m.className = error ? "message error" : "message";
  m.hidden = false;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { m.hidden = true; }, error ? 12_000 : 5_000);
}

async function command(path, note, button) {
  button.disabled = true;
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await request(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                      body: JSON.stringify({ note }) });
      const body = await r.json().catch(() => ({}));
      if (r.status === 401 || r.status === 403) {
        await askToken(`${body.error || "not allowed"}: commands need an operator token.`);
        continue;
      }
      if (r.ok) {
        say(r.status === 202 ? "Sent; the ledger has not shown it yet." : `Done: ${body.event}.`);
        refreshSoon("alerts"); refreshSoon("recommendations");
      } else {
        say(body.error || `failed (${r.status})`, true);
      }
      return;
    }
  } finally {
    button.disabled = false;
  }
}

// ---- views --------------------------------------------------------------------------

const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const when = (iso) => iso ? new Date(iso).toLocaleString(undefined,
  { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function severity(s) {
  const span = document.createElement("span");
  span.className = `sev sev-${s}`;
  span.textContent = s;
  const td = document.createElement("td");
  td.append(span);
  return td;
}

function actions(buttons) {
  const td = document.createElement("td");
  const box = document.createElement("div");
  box.className = "actions";
  const note = document.createElement("input");
  note.placeholder = "note";
  note.maxLength = 2000;
  note.setAttribute("aria-label", "note");
  box.append(note);
  for (const [label, cls, path] of buttons) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = cls;
    b.addEventListener("click", () => command(path, note.value, b));
    box.append(b);
  }
  td.append(box);
  return td;
}

// Rows are kept by id, so a refresh never wipes a note being typed.
function syncRows(tbody, items, key, build, update) {
  // a narrow page shows each cell under its column's name (style.css)
  const labels = [...tbody.parentElement.tHead.rows[0].cells].map((th) => th.textContent);
  const seen = new Set();
  for (const item of items) {
    const id = item[key];
    seen.add(id);
    let row = tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (!row) {
      row = build(item);
      row.dataset.id = id;
      row.classList.add("fresh");
    }
    update(row, item);
    [...row.cells].forEach((td, i) => { if (labels[i]) td.dataset.label = labels[i]; });
    tbody.append(row); // keeps the server's order
  }
  for (const row of [...tbody.rows]) if (!seen.has(row.dataset.id)) row.remove();
}

async function loadAlerts() {
  const { alerts } = await getJSON("/alerts?state=active&limit=200");
  state.activeAlerts = new Map();
  for (const a of alerts) state.activeAlerts.set(a.facility, (state.activeAlerts.get(a.facility) || 0) + 1);
  syncRows($("alert-rows"), alerts, "alert_id", (a) => {
    const tr = document.createElement("tr");
    tr.dataset.alertId = a.alert_id;
    tr.append(severity(a.severity), cell(a.facility), cell(a.sensor), cell(a.kind),
              cell(""), cell(when(a.raised_at)), cell("", "acked"),
              actions([["Acknowledge", "ack",
                        `/alerts/${encodeURIComponent(a.alert_id)}/acknowledge`]]));
    return tr;
  }, (tr, a) => {
    tr.cells[0].replaceWith(severity(a.severity));
    tr.cells[4].textContent = `${fmt.format(a.value)} / ${fmt.format(a.baseline)}`;
    tr.cells[6].textContent = a.acknowledged
      ? `${a.acknowledged_by}${a.acknowledged_note ? ` — ${a.acknowledged_note}` : ""}` : "";
    tr.querySelector(".actions").hidden = a.acknowledged;
  });
  $("alert-count").textContent = alerts.length ? `(${alerts.length})` : "";
  $("no-alerts").hidden = alerts.length > 0;
  renderCards();
}

async function loadRecommendations() {
  const { recommendations } = await getJSON("/recommendations/pending?limit=100");
  syncRows($("rec-rows"), recommendations, "recommendation_id", (r) => {
    const tr = document.createElement("tr");
    const path = `/recommendations/${encodeURIComponent(r.recommendation_id)}`;
    tr.append(cell(r.facility), cell(r.action), cell(r.reason),
              cell(fmt.format(r.expected_effect_tco2e_per_day)), cell(r.urgency),
              actions([["Approve", "approve", `${path}/approve`],
                       ["Reject", "reject", `${path}/reject`]]));
    return tr;
  }, () => {});
  $("rec-count").textContent = recommendations.length ? `(${recommendations.length})` : "";
  $("no-recs").hidden = recommendations.length > 0;
}

async function loadHotspots() {
  const { hotspots } = await getJSON("/hotspots?limit=20");
  $("hotspots").replaceChildren(...hotspots.map((h) => {
    const li = document.createElement("li");
    li.textContent = `${h.facility} · ${h.sensor}: ${fmt.format(h.value)} ${h.unit} ` +
      `(${fmt.format(h.excess_ratio)}× baseline) `;
    const t = document.createElement("span");
    t.className = "dim";
    t.textContent = when(h.time);
    li.append(t);
    return li;
  }));
  if (!hotspots.length) $("hotspots").innerHTML = '<li class="dim">None.</li>';
}

async function loadFacilities() {
  const { facilities } = await getJSON("/facilities");
  for (const f of facilities) state.facilities.set(f.facility, f);
  const select = $("balance-facility");
  const chosen = select.value;
  select.replaceChildren(...facilities.map((f) => new Option(f.name || f.facility, f.facility)));
  if (chosen) select.value = chosen;
  renderCards();
  renderCharts();
}

function latest(facility) {
  const windows = state.balance.get(facility);
  if (!windows || !windows.size) return null;
  return windows.get(Math.max(...windows.keys()));
}

function renderCards() {
  const cards = [...state.facilities.values()].map((f) => {
    const div = document.createElement("div");
    const alerts = state.activeAlerts.get(f.facility) || 0;
    div.className = alerts ? "card alarm" : "card";
    div.dataset.facility = f.facility;
    const b = latest(f.facility);
    div.innerHTML = `<div class="name"></div><div class="kind"></div>
      <div class="figure"></div><div class="balance"></div><div class="balance open"></div>
      <div class="kind alerts"></div>`;
    div.querySelector(".name").textContent = f.name || f.facility;
    div.querySelector(".kind").textContent = `${f.facility} · ${f.kind || "?"} · ${f.sensors.length} sensors`;
    div.querySelector(".figure").textContent = b && b.emitted_t > 0
      ? `${(100 * b.capture_efficiency).toFixed(1)} % captured` : "no CO₂ balance yet";
    div.querySelector(".balance").textContent = b
      ? `${hourSpan(b)}: emitted ${fmt.format(b.emitted_t)} t · captured ${fmt.format(b.captured_t)} · ` +
        `stored ${fmt.format(b.stored_t)} · vented ${fmt.format(b.vented_t)}` : "";
    div.querySelector(".open").textContent = openLine(state.open.get(f.facility));
    div.querySelector(".alerts").textContent = alerts ? `${alerts} active alert${alerts > 1 ? "s" : ""}` : "";
    return div;
  });
  $("facility-cards").replaceChildren(...cards);
}

// ---- charts (charts.js) -------------------------------------------------------------

function renderCharts() {
  drawCharts(state.balance, [...state.facilities.keys()], $("balance-facility").value);
}

function addBalance(body) {
  if (!state.balance.has(body.facility)) state.balance.set(body.facility, new Map());
  state.balance.get(body.facility).set(body.window_end, body);
}

async function backfillBalance() {
  for (const body of await sealedHours(getJSON)) addBalance(body);
  renderCards();
  renderCharts();
}

async function loadCurrent() {
  state.open = await openHours(getJSON);
  renderCards();
}

async function backfillTicker() {
  for (const e of await recentEvents(getJSON)) ticker(e.seq, e.type, e);
}

const checkHead = () => readHead(getJSON);

// ---- the live stream ----------------------------------------------------------------

function refreshSoon(what) {
  // the projections trail the ledger by a moment, and a cached view may be served up
  // to 2.5 s old while it is refreshed (serve/cache.py): read now-ish, a bit later, and
  // once more when any answer must have been made after the record arrived
  for (const delay of [300, 2000, 5000]) {
    const key = `${what}@${delay}`;
    if (state.timers.has(key)) continue;
    state.timers.set(key, setTimeout(() => {
      state.timers.delete(key);
      loaders[what]().catch((e) => say(e.message, true));
    }, delay));
  }
}

const loaders = { alerts: loadAlerts, recommendations: loadRecommendations,
                  hotspots: loadHotspots, facilities: loadFacilities, current: loadCurrent };

function ticker(seq, type, data) {
  // newest first, whether a record comes from the stream or from the read on load
  const list = $("ticker");
  if (list.querySelector(`li[data-seq="${CSS.escape(String(seq))}"]`)) return;
  const li = document.createElement("li");
  li.dataset.seq = seq;
  li.textContent = `#${seq} ${type} ${data.facility}${data.sensor ? "/" + data.sensor : ""}`;
  const older = [...list.children].find((item) => Number(item.dataset.seq) < Number(seq));
  list.insertBefore(li, older || null);
  while (list.children.length > 30) list.lastChild.remove();
}

let headTimer = null;
function headSoon() {
  // the writer signs a grown tree within a second or so: check it then, not per record
  if (headTimer) return;
  headTimer = setTimeout(() => {
    headTimer = null;
    checkHead().catch((e) => badge("head unreadable", "bad", e.message));
  }, 1500);
}

function onRecord(message) {
  const data = JSON.parse(message.data);
  const type = message.type;
  ticker(message.lastEventId, type, data);
  headSoon();
  if (type.startsWith("alert.") || type === "command.rejected") refreshSoon("alerts");
  if (type.startsWith("recommendation.") || type === "command.rejected") refreshSoon("recommendations");
  if (type === "hotspot.detected") refreshSoon("hotspots");
  if (type === "facility.registered" || type.startsWith("sensor.")) refreshSoon("facilities");
  if (type === "emissions.measured") {
    addBalance(JSON.parse(data.record).event.body);
    refreshSoon("current");
    renderCards();
    renderCharts();
  }
}

const TYPES = ["facility.registered", "sensor.registered", "readings.rejected",
  "hotspot.detected", "alert.raised", "alert.acknowledged", "alert.cleared",
  "alert.updated", "alert.escalated", "recommendation.issued", "recommendation.approved",
  "recommendation.rejected", "silence.started", "command.rejected", "emissions.measured",
  "readings.sealed", "sensor.changed", "sensor.retired"];

let source = null;
function connectStream() {
  source?.close();
  const params = new URLSearchParams();
  // EventSource sets no headers: the one URL that may carry a token, and only if reads need it
  if (state.readsNeedToken && state.token) params.set("token", state.token);
  source = new EventSource(`/stream?${params}`);
  const live = $("live");
  source.onopen = () => { live.textContent = "live"; live.className = "pill ok"; };
  source.onerror = () => {
    live.textContent = "reconnecting…";
    live.className = "pill";
    if (source.readyState === EventSource.CLOSED) setTimeout(connectStream, 5000);
  };
  for (const type of TYPES) source.addEventListener(type, onRecord);
  // too far behind: the server closes; EventSource reconnects from this id by itself
  source.addEventListener("overflow", () => say("Fell behind the live stream; catching up."));
  // away too long for a replay: the records in between are not sent, so read the views again
  source.addEventListener("gap", () => {
    say("Missed part of the live stream; reloading.");
    Promise.all([loadAlerts(), loadRecommendations(), loadHotspots(), backfillBalance()])
      .catch((e) => say(e.message, true));
  });
}

// ---- start --------------------------------------------------------------------------

async function start() {
  $("token-button").addEventListener("click", () => askToken("Paste a token (viewer to read, operator to act)."));
  $("balance-facility").addEventListener("change", renderCharts);
  window.addEventListener("resize", () => { clearTimeout(start.resize); start.resize = setTimeout(renderCharts, 200); });
  await loadFacilities();
  connectStream();
  await Promise.all([loadAlerts(), loadRecommendations(), loadHotspots(), backfillBalance(),
                     loadCurrent(), backfillTicker(), checkHead()]);
  setInterval(() => loadCurrent().catch((e) => say(e.message, true)), CURRENT_EVERY_MS);
  setInterval(() => checkHead().catch((e) => badge("head unreadable", "bad", e.message)), HEAD_EVERY_MS);
}

start().catch((e) => say(e.message, true));

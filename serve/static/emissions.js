// What the page reads once on load, before the live stream has anything to say: the
// sealed hours of the last two days, the open hour's estimate, the latest ledger events.

const RECENT_EVENTS = 30;

const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const clock = (ms) => new Date(ms).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });

// Sealed hours as the bodies of their emissions.measured records, which is what the
// stream brings afterwards.
export async function sealedHours(getJSON) {
  const { windows } = await getJSON("/emissions/windows");
  return windows.map((w) => ({ ...w, window_start: w.window_start_ms, window_end: w.window_end_ms }));
}

// facility -> the open hour's estimate from the readings so far (none for a facility
// that has reported nothing since its last sealed hour)
export async function openHours(getJSON) {
  const { facilities } = await getJSON("/emissions/current");
  return new Map(facilities.filter((f) => f.open).map((f) => [f.facility, f.open]));
}

export const hourSpan = (b) => `${clock(b.window_start)}–${clock(b.window_end)}`;

export function openLine(open) {
  if (!open) return "";
  const share = open.emitted_t > 0 ? `${(100 * open.capture_efficiency).toFixed(1)} % captured · ` : "";
  return `this hour so far (${clock(open.window_start_ms)}–${clock(open.latest_reading_ms)}, ` +
    `estimate): ${share}emitted ${fmt.format(open.emitted_t)} t · captured ${fmt.format(open.captured_t)}`;
}

// The last records the projections hold, as {seq, type, facility, sensor, …}.
export async function recentEvents(getJSON) {
  const head = await getJSON("/ledger/head");
  if (!head.tree_size) return [];
  const from = Math.max(1, head.tree_size - RECENT_EVENTS + 1);
  const { events } = await getJSON(`/ledger/events?from=${from}&to=${head.tree_size}`);
  return events;
}

// The hourly CO2 balance drawn with uPlot: capture efficiency of every facility, and
// the four flows of the one chosen.

const PALETTE = ["#6aa6d9", "#5fb98a", "#d9b453", "#c792ea", "#e0675f", "#7fd1c7", "#e0a458"];
const AXIS = { stroke: "#8796a3", grid: { stroke: "#26313b" }, ticks: { stroke: "#26313b" } };
const charts = {};

function chart(key, el, series, data) {
  // as wide as its box, which on a phone is narrower than uPlot's legend would like
  const width = Math.max(200, el.clientWidth || el.parentElement.clientWidth - 32);
  const opts = { width, height: 190, series: [{}, ...series], axes: [AXIS, AXIS],
                 legend: { live: false }, cursor: { drag: { x: false, y: false } } };
  charts[key]?.destroy();
  el.replaceChildren();
  charts[key] = new uPlot(opts, data, el);
  el.dataset.hours = data[0].length; // what is drawn, for a reader of the page (and its test)
}

// balance: facility -> Map(window_end_ms -> EmissionsMeasured body)
export function drawCharts(balance, facilities, chosen) {
  if (typeof uPlot === "undefined") return;
  const ids = facilities.filter((f) => balance.get(f)?.size);
  const xs = [...new Set(ids.flatMap((f) => [...balance.get(f).keys()]))].sort((a, b) => a - b);
  const eff = [xs.map((x) => x / 1000), ...ids.map((f) => xs.map((x) => {
    const b = balance.get(f).get(x);
    return b && b.emitted_t > 0 ? 100 * b.capture_efficiency : null;
  }))];
  chart("efficiency", document.getElementById("efficiency-chart"),
        ids.map((f, i) => ({ label: f, stroke: PALETTE[i % PALETTE.length], width: 2,
                              spanGaps: true, value: (u, v) => v == null ? "–" : `${v.toFixed(1)} %` })),
        eff);
  const windows = balance.get(chosen) || new Map();
  const bx = [...windows.keys()].sort((a, b) => a - b);
  const parts = [["emitted", "emitted_t", "#e0a458"], ["captured", "captured_t", "#6aa6d9"],
                 ["stored", "stored_t", "#5fb98a"], ["vented", "vented_t", "#e0675f"]];
  chart("balance", document.getElementById("balance-chart"),
        parts.map(([label, , stroke]) => ({ label, stroke, width: 2 })),
        [bx.map((x) => x / 1000), ...parts.map(([, k]) => bx.map((x) => windows.get(x)[k]))]);
}

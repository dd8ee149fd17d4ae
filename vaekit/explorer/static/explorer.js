// The vaekit explorer page: a latent map to hover, click and pick on, sliders over the most
// informative latent dimensions, and samples. Plain JavaScript, no libraries, no network access
// beyond this server's JSON API (see vaekit/explorer/api.py).
"use strict";

const SIZE = 600;          // the SVG's viewBox is SIZE x SIZE
const MARGIN = 36;         // room for axis labels
const STEPS = 10;          // images in an interpolation strip
const SAMPLES = 16;
const NEIGHBOURS = 8;
const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

const state = {
  info: null,
  method: "pca",
  coords: [],
  scale: null,          // {x(v), y(v), invX(px), invY(px)} for the current map
  examples: new Map(),  // index -> /api/encode answer, so hovering twice asks once
  picks: [],            // up to two picked example indices
  base: null,           // the code the sliders move
  location: null,       // last clicked map location [x, y]
  hovered: null,        // the example under the pointer
  sampleSeed: 0,
};

const $ = (id) => document.getElementById(id);

// -- talking to the server ---------------------------------------------------------------------
async function api(name, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch(`/api/${name}`, options);
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function reportErrors(task) {
  return (...args) => task(...args).catch((err) => setStatus(`error: ${err.message}`, true));
}

async function example(index) {
  if (!state.examples.has(index)) state.examples.set(index, await api("encode", {index}));
  return state.examples.get(index);
}

// -- drawing examples: images or table rows ------------------------------------------------------
function figure(item, caption) {
  const fig = document.createElement("figure");
  const img = document.createElement("img");
  img.className = "example";
  img.src = item;
  img.alt = caption;
  fig.append(img);
  if (caption) {
    const cap = document.createElement("figcaption");
    cap.textContent = caption;
    fig.append(cap);
  }
  return fig;
}

// A table entry: a number, or a text/category/boolean column's own value.
function formatValue(v) {
  if (v === null) return "–";
  return typeof v === "number" ? v.toPrecision(4) : String(v);
}

// Table examples: one column per example (captions as headers), one row per data column.
function rowsTable(items, captions) {
  const table = document.createElement("table");
  table.className = "rows";
  const head = table.insertRow();
  for (const text of ["", ...captions]) {
    const th = document.createElement("th");
    th.textContent = text;
    head.append(th);
  }
  state.info.columns.forEach((name, j) => {
    const row = table.insertRow();
    const th = document.createElement("th");
    th.textContent = name;
    row.append(th);
    for (const item of items) row.insertCell().textContent = formatValue(item[j]);
  });
  const wrap = document.createElement("div");
  wrap.className = "table-scroll";
  wrap.append(table);
  return wrap;
}

function show(container, items, captions) {
  container.replaceChildren(...(state.info.kind === "image"
    ? items.map((item, i) => figure(item, captions[i]))
    : [rowsTable(items, captions)]));
}

// -- the map ---------------------------------------------------------------------------------------
// [min, max] by a loop: spreading thousands of values into Math.min can overflow the call stack.
function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return [lo, hi];
}

function makeScale(coords) {
  const [x0, x1] = extent(coords.map((c) => c[0])), [y0, y1] = extent(coords.map((c) => c[1]));
  const span = Math.max(x1 - x0, y1 - y0) || 1;   // one scale for both axes keeps distances honest
  const k = (SIZE - 2 * MARGIN) / span;
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  return {
    x: (v) => SIZE / 2 + (v - cx) * k,
    y: (v) => SIZE / 2 - (v - cy) * k,
    invX: (px) => cx + (px - SIZE / 2) / k,
    invY: (py) => cy - (py - SIZE / 2) / k,
  };
}

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawMap(answer) {
  state.coords = answer.coords;
  state.scale = makeScale(answer.coords);
  const radius = answer.coords.length > 2000 ? 2.2 : 3.2;
  const points = answer.coords.map(([x, y], i) => svg("circle", {
    class: "point", cx: state.scale.x(x).toFixed(1), cy: state.scale.y(y).toFixed(1), r: radius,
    "data-index": i,
  }));
  $("points").replaceChildren(...points);
  $("axes").replaceChildren(
    svg("text", {class: "axis-label", x: SIZE / 2, y: SIZE - 8, "text-anchor": "middle"}, answer.axis_labels[0]),
    svg("text", {class: "axis-label", x: 14, y: SIZE / 2, "text-anchor": "middle",
                 transform: `rotate(-90 14 ${SIZE / 2})`}, answer.axis_labels[1]),
  );
  state.location = null;
  colourPoints();
  drawMarks();
}

function colourFor(field) {
  if (!field) return () => "#4c72b0";
  const values = field.values;
  if (field.type === "category") {
    const categories = [...new Set(values)].sort((a, b) => a.localeCompare(b, undefined, {numeric: true}));
    const colour = new Map(categories.map((c, i) => [c, i < PALETTE.length ? PALETTE[i]
      : `hsl(${(i * 137.5) % 360} 65% 50%)`]));
    return (i) => colour.get(values[i]);
  }
  const [lo, hi] = extent(values);
  return (i) => (values[i] === null ? "#bbb" : viridis((values[i] - lo) / ((hi - lo) || 1)));
}

function viridis(t) {
  const pos = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(pos), VIRIDIS.length - 2), f = pos - i;
  const rgb = VIRIDIS[i].map((a, j) => Math.round(a + f * (VIRIDIS[i + 1][j] - a)));
  return `rgb(${rgb.join(",")})`;
}

function colourPoints() {
  const field = state.info.colour_by[$("colour").value];
  const colour = colourFor(field);
  for (const circle of $("points").children) circle.setAttribute("fill", colour(Number(circle.dataset.index)));
  drawLegend(field, colour);
}

function drawLegend(field, colour) {
  const legend = $("legend");
  if (!field) return legend.replaceChildren();
  if (field.type === "category") {
    const seen = new Map();
    field.values.forEach((v, i) => seen.has(v) || seen.set(v, colour(i)));
    const entries = [...seen].sort((a, b) => a[0].localeCompare(b[0], undefined, {numeric: true})).slice(0, 30);
    legend.replaceChildren(...entries.map(([name, c]) => {
      const span = document.createElement("span");
      const dot = document.createElement("span");
      dot.className = "swatch";
      dot.style.background = c;
      span.append(dot, name);
      return span;
    }));
  } else {
    const [lo, hi] = extent(field.values);
    const bar = document.createElement("span");
    bar.className = "gradient";
    bar.style.background = `linear-gradient(to right, ${VIRIDIS.map((c) => `rgb(${c.join(",")})`).join(",")})`;
    legend.replaceChildren(formatValue(lo), bar, formatValue(hi));
  }
}

// Picked points (A, B), the line between them and the last decoded location.
function drawMarks() {
  const marks = [];
  const at = (i) => [state.scale.x(state.coords[i][0]), state.scale.y(state.coords[i][1])];
  if (state.picks.length === 2) {
    const [[x1, y1], [x2, y2]] = state.picks.map(at);
    marks.push(svg("line", {class: "path-line", x1, y1, x2, y2}));
  }
  state.picks.forEach((index, n) => {
    const [x, y] = at(index);
    marks.push(svg("circle", {class: "pick-ring", cx: x, cy: y, r: 7}));
    marks.push(svg("text", {class: "pick-label", x: x + 9, y: y - 9}, "AB"[n]));
  });
  if (state.location) {
    const x = state.scale.x(state.location[0]), y = state.scale.y(state.location[1]);
    marks.push(svg("path", {class: "location-mark", d: `M${x - 7} ${y}h14M${x} ${y - 7}v14`}));
  }
  $("marks").replaceChildren(...marks);
}

// -- interactions ----------------------------------------------------------------------------------
async function hover(index) {
  const answer = await example(index);
  if (state.hovered !== index) return;   // the pointer has moved on
  const name = [answer.label !== null ? `label ${answer.label}` : "", answer.name || ""].filter(Boolean);
  $("hover-caption").textContent = `#${index} ${name.join(" · ")}`;
  show($("hover"), [answer.example, answer.reconstruction], ["example", "reconstruction"]);
}

async function pick(index) {
  state.picks = state.picks.length >= 2 ? [index] : [...state.picks, index];
  drawMarks();
  const picked = await Promise.all(state.picks.map(example));
  const current = picked[picked.length - 1];
  setBase(current.code, `around example #${index}`);
  const near = await api("neighbours", {index, k: NEIGHBOURS});
  $("neighbours-caption").textContent = `of example #${index}`;
  show($("neighbours"), near.items, near.indices.map((i) => `#${i}`));
  if (picked.length === 2) await interpolate(picked[0].code, picked[1].code);
}

async function interpolate(a, b) {
  const codes = Array.from({length: STEPS}, (_, s) => a.map((v, j) => v + (s / (STEPS - 1)) * (b[j] - v)));
  const answer = await api("decode", {codes});
  $("interpolation-caption").textContent = `#${state.picks[0]} → #${state.picks[1]}, linear in latent space`;
  show($("interpolation"), answer.items, answer.items.map((_, s) => (s === 0 ? "A" : s === STEPS - 1 ? "B" : "")));
}

async function decodeLocation(point) {
  state.location = point;
  drawMarks();
  const answer = await api("decode", {points: [point], method: state.method});
  $("location-caption").textContent = `at (${point.map((v) => v.toFixed(2)).join(", ")})`;
  show($("location"), answer.items, ["decoded"]);
  setBase(answer.codes[0], "around the clicked location");
}

function onMapClick(event) {
  const target = event.target;
  if (target.classList.contains("point")) return pick(Number(target.dataset.index));
  const svgEl = $("map");
  const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(svgEl.getScreenCTM().inverse());
  return decodeLocation([state.scale.invX(p.x), state.scale.invY(p.y)]);
}

// -- sliders: move the most informative latent dimensions of a base code ---------------------------
function buildSliders() {
  const by = state.info.rank_by === "kl" ? "KL" : "var";
  $("sliders").replaceChildren(...state.info.sliders.map((s) => {
    const label = document.createElement("label");
    const name = document.createElement("span");
    name.textContent = `z${s.dim} (${by} ${s.score.toFixed(2)})`;
    const input = Object.assign(document.createElement("input"), {
      type: "range", min: s.min, max: s.max, step: 0.01, value: 0,
    });
    input.dataset.dim = s.dim;
    const out = document.createElement("output");
    input.addEventListener("input", () => { out.textContent = Number(input.value).toFixed(2); sliderDecode(); });
    label.append(name, input, out);
    return label;
  }));
}

function setBase(code, caption) {
  state.base = code.slice();
  $("slider-caption").textContent = caption;
  resetSliders();
}

function resetSliders() {
  for (const input of $("sliders").querySelectorAll("input")) {
    input.value = state.base[Number(input.dataset.dim)];
    input.nextElementSibling.textContent = Number(input.value).toFixed(2);
  }
  sliderDecode();
}

// While a decode is in flight, later slider moves only mark the result stale: one request at a
// time, and the last position always gets decoded.
let sliderBusy = false, sliderStale = false;
async function sliderDecode() {
  if (sliderBusy) { sliderStale = true; return; }
  sliderBusy = true;
  try {
    do {
      sliderStale = false;
      const code = state.base.slice();
      for (const input of $("sliders").querySelectorAll("input")) code[Number(input.dataset.dim)] = Number(input.value);
      const answer = await api("decode", {codes: [code]});
      show($("slider-image"), answer.items, [""]);
    } while (sliderStale);
  } catch (err) {
    setStatus(`error: ${err.message}`, true);
  } finally {
    sliderBusy = false;
  }
}

// -- samples -----------------------------------------------------------------------------------------
async function generate() {
  const temperature = Number($("temperature").value);
  const answer = await api("samples", {n: SAMPLES, temperature, seed: state.sampleSeed++});
  show($("samples"), answer.items, answer.items.map(() => ""));
}

// -- start -------------------------------------------------------------------------------------------
async function loadMap(method) {
  $("method").disabled = true;
  setStatus(method === "pca" ? "" : `computing the ${method === "tsne" ? "t-SNE" : "UMAP"} map…`);
  try {
    drawMap(await api("map", {method}));
    state.method = method;
    setStatus("");
  } finally {
    $("method").value = state.method;
    $("method").disabled = false;
  }
}

async function start() {
  const info = state.info = await api("info");
  document.body.classList.toggle("tables", info.kind === "table");
  $("summary").textContent = `${info.source || "data"}: ${info.n} ${info.kind === "image" ? "images" : "rows"}, ` +
    `${info.latent_dim} latent dimensions`;
  const colour = $("colour");
  for (const name of ["none", ...Object.keys(info.colour_by)]) colour.add(new Option(name, name));
  if ("label" in info.colour_by) colour.value = "label";
  colour.addEventListener("change", colourPoints);
  $("method").addEventListener("change", reportErrors(() => loadMap($("method").value)));
  const points = $("points");
  points.addEventListener("mouseover", reportErrors(async (event) => {
    if (!event.target.classList.contains("point")) return;
    state.hovered = Number(event.target.dataset.index);
    await hover(state.hovered);
  }));
  $("map").addEventListener("click", reportErrors(onMapClick));
  $("reset-sliders").addEventListener("click", resetSliders);
  $("temperature").addEventListener("input", () => {
    $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
  });
  $("generate").addEventListener("click", reportErrors(generate));
  buildSliders();
  setBase(new Array(info.latent_dim).fill(0), "around the prior mean");
  await loadMap("pca");
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", reportErrors(start));

// The vector space card: the stored test examples' map (one dot per example, coloured by class, the
// misclassified ringed), the current input's point moving among them and its 8 nearest test examples;
// for a language model, its characters' map with the prompt's characters highlighted.
"use strict";

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const spaceState = { map: null, layer: null, lastBody: null, answer: null, inflight: false, pending: false, available: false, lm: false };
const sp = (id) => document.getElementById(id);
const st = (key) => (typeof t === "function" ? t(key) : key);

async function spaceLoad(model) {
  spaceState.lm = model.language_model;
  try { await spaceShow(null); } catch (e) { return; }  // no stored space (404): the card stays hidden
  spaceState.available = true;
  sp("space").hidden = false;
  const select = sp("space-layer");
  select.replaceChildren();
  for (const s of spaceState.map.layers) {
    const o = document.createElement("option");
    o.value = s.name; o.textContent = s.name;
    select.append(o);
  }
  select.value = spaceState.map.layer;
  sp("space-layer-wrap").hidden = spaceState.map.layers.length < 2;
  spaceRelabel();
}

async function spaceShow(layer) {
  const q = layer ? `?layer=${encodeURIComponent(layer)}` : "";
  spaceState.map = await api(`/api/space${q}`);
  spaceState.layer = spaceState.map.layer;
  spaceDraw();
}

function spaceRelabel() {
  if (!spaceState.map) return;
  for (const o of sp("space-layer").options) { o.textContent = spaceStageName(o.value, o.index); o.title = o.value; }
  const s = spaceState.map.layers.find((l) => l.name === spaceState.layer);
  const knn = s && s.knn !== null ? `${(100 * s.knn).toFixed(1)}%` : "–";
  sp("space-knn").textContent = `${st("space.knn")}: ${knn} · ${s ? s.dims.toLocaleString() : "–"} ${st("space.dims")}`;
  sp("space-method").textContent = st(spaceState.map.method === "tsne" ? "space.method_tsne" : "space.method_pca");
  spaceNeighbours();
}

// a stage by its place (block 1, 2...); the module's name (e.g. features.3) is the option's tooltip
function spaceStageName(name, index) {
  const named = { input: st("space.stage_input"), output: st("space.stage_output"), embedding: st("space.stage_embedding") }[name];
  return named ?? st("space.stage_block").replace("{n}", index);
}

// where the map's points go on the canvas: the stored points' box, with a margin
function spaceFrame(c) {
  const pts = spaceState.map.points, m = 12;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of pts) { x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y); }
  const sx = (c.width - 2 * m) / Math.max(x1 - x0, 1e-9), sy = (c.height - 2 * m) / Math.max(y1 - y0, 1e-9);
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  return (p) => [clamp(m + (p.x - x0) * sx, 2, c.width - 2), clamp(c.height - m - (p.y - y0) * sy, 2, c.height - 2)];
}

function spaceDraw() {
  const c = sp("space-map"), g = c.getContext("2d"), map = spaceState.map;
  if (!map) return;
  g.clearRect(0, 0, c.width, c.height);
  const at = spaceFrame(c);
  const classIndex = Object.fromEntries(map.classes.map((name, i) => [name, i]));
  const a = spaceState.answer;
  const typed = new Set(a && a.characters ? a.characters.map((ch) => ch.char) : []);
  for (const p of map.points) {
    const [x, y] = at(p), color = PALETTE[classIndex[p.label] % PALETTE.length];
    if (spaceState.lm) {  // a character map: each character written where it lies, the prompt's in red
      g.font = typed.has(p.label) ? "bold 15px monospace" : "11px monospace";
      g.fillStyle = typed.has(p.label) ? "#d62728" : "#5b6577";
      g.fillText(JSON.stringify(p.label).slice(1, -1), x - 3, y + 4);
      continue;
    }
    g.fillStyle = color; g.globalAlpha = 0.7;
    g.beginPath(); g.arc(x, y, 2.2, 0, 2 * Math.PI); g.fill();
    g.globalAlpha = 1;
    if (p.wrong) { g.strokeStyle = "#000"; g.lineWidth = 0.8; g.beginPath(); g.arc(x, y, 4, 0, 2 * Math.PI); g.stroke(); }
  }
  c.dataset.layer = map.layer;
  if (spaceState.lm) c.dataset.highlighted = [...typed].sort().join("");
  if (a && a.point && a.layer === map.layer) {
    const [x, y] = at(a.point);
    g.strokeStyle = "#000"; g.fillStyle = "#ffd400"; g.lineWidth = 2.5;
    g.beginPath(); g.arc(x, y, 8, 0, 2 * Math.PI); g.fill(); g.stroke();
    c.dataset.point = `${a.point.x},${a.point.y}`;
  }
  spaceLegend();
}

function spaceLegend() {
  const box = sp("space-legend"), map = spaceState.map;
  box.replaceChildren();
  if (!map || spaceState.lm) return;
  map.classes.forEach((name, i) => {
    const item = document.createElement("span"); item.className = "key";
    const dot = document.createElement("span"); dot.className = "dot"; dot.style.background = PALETTE[i % PALETTE.length];
    item.append(dot, document.createTextNode(name)); box.append(item);
  });
  const ring = document.createElement("span"); ring.className = "key";
  const dot = document.createElement("span"); dot.className = "dot ring";
  ring.append(dot, document.createTextNode(st("space.wrong"))); box.append(ring);
  const you = document.createElement("span"); you.className = "key";
  const star = document.createElement("span"); star.className = "dot you";
  you.append(star, document.createTextNode(st("space.you"))); box.append(you);
}

// at a convolutional stage: the input's first feature maps there, each a small grayscale picture
function spaceMaps() {
  const a = spaceState.answer, box = sp("space-maps");
  box.replaceChildren();
  sp("space-maps-wrap").hidden = !(a && a.maps);
  if (!a || !a.maps) return;
  const m = a.maps;
  sp("space-maps-caption").textContent = st("space.maps").replace("{shown}", m.values.length).replace("{channels}", m.channels);
  for (const values of m.values) {
    const c = document.createElement("canvas"); c.width = m.width; c.height = m.height; c.className = "feature-map";
    const g = c.getContext("2d"), img = g.createImageData(m.width, m.height);
    values.forEach((v, i) => { img.data.set([v, v, v, 255], 4 * i); });
    g.putImageData(img, 0, 0); box.append(c);
  }
}

function spaceNeighbours() {
  spaceMaps();
  const box = sp("space-neighbours"), a = spaceState.answer;
  box.replaceChildren();
  sp("space-nearest-wrap").hidden = spaceState.lm;
  sp("space-empty").hidden = Boolean(a);
  if (!a || !a.neighbours) return;
  for (const n of a.neighbours) {
    const fig = document.createElement("figure"); fig.className = "neighbour"; fig.dataset.label = n.label;
    if (n.thumbnail) { const img = document.createElement("img"); img.src = n.thumbnail; img.alt = `${st("space.test_example")} ${n.index}`; fig.append(img); }
    const cap = document.createElement("figcaption");
    cap.textContent = `${n.label} · ${st("space.distance")} ${n.distance.toFixed(2)}`;
    fig.append(cap); box.append(fig);
  }
}

// one request in flight; a newer input waits and replaces any older waiting one
async function spaceEmbed(body) {
  if (!spaceState.available) return;
  spaceState.lastBody = body;
  if (spaceState.inflight) { spaceState.pending = true; return; }
  spaceState.inflight = true;
  try {
    const layer = spaceState.lm ? undefined : spaceState.layer;
    spaceState.answer = await api("/api/embed", post({ ...body, layer }));
    spaceDraw(); spaceNeighbours();
  } catch (e) { spaceState.answer = null; spaceDraw(); spaceNeighbours(); }
  finally {
    spaceState.inflight = false;
    if (spaceState.pending) { spaceState.pending = false; spaceEmbed(spaceState.lastBody); }
  }
}

function spaceClear() { spaceState.answer = null; spaceState.lastBody = null; delete sp("space-map").dataset.point; spaceDraw(); spaceNeighbours(); }

sp("space-layer").addEventListener("change", async (e) => {
  await spaceShow(e.target.value); spaceRelabel();
  if (spaceState.lastBody) spaceEmbed(spaceState.lastBody);
});

// the drawing page asks /api/predict to place the drawing too (one request per stroke): what to ask for,
// and the answer's space part shown as an /api/embed answer would be
function spacePlacing() { return spaceState.available && !spaceState.lm ? { layer: spaceState.layer } : null; }
function spacePlaced(body, answer) {
  spaceState.lastBody = body; spaceState.answer = answer || null; spaceDraw(); spaceNeighbours();
}

window.vectorSpace = { load: spaceLoad, embed: spaceEmbed, placing: spacePlacing, show: spacePlaced, clear: spaceClear,
                       relabel: () => { spaceRelabel(); spaceLegend(); } };

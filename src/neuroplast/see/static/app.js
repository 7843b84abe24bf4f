// neuroplast's page: draw, ask, watch it learn. Plain JS and canvas; every string from /api/strings.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { lang: document.documentElement.dataset.lang || "en", strings: {}, model: null,
                inflight: false, pending: false, lossTrain: [], lossVal: [], source: null };

function t(key) { return state.strings[key] ?? key; }

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) { const e = new Error(body.detail || response.statusText); e.status = response.status; throw e; }
  return body;
}

// ------------------------------------------------------------------ languages
async function setLanguage(lang) {
  state.strings = await api(`/api/strings/${lang}`);
  state.lang = lang;
  document.documentElement.lang = lang;
  document.documentElement.dataset.lang = lang;
  $("lang").value = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n).replace("{shape}", el.dataset.shape ?? "");
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  document.title = t("page.title");
  if (state.lastAnswer) showAnswer(state.lastAnswer);
  if (window.vectorSpace) window.vectorSpace.relabel();
}

// ------------------------------------------------------------------ the model card
async function loadModel() {
  const m = await api("/api/model");
  state.model = m;
  $("model-name").textContent = m.name;
  $("model-params").textContent = m.parameters.toLocaleString();
  if (m.test.accuracy !== undefined) { $("model-acc").textContent = pct(m.test.accuracy); $("model-acc-wrap").hidden = false; }
  $("model-summary").textContent = m.summary;
  $("status").hidden = true;
  if (m.language_model) $("generate").hidden = false;
  else {
    $("answer").hidden = false;
    if (m.kind === "image") {
      $("draw").hidden = false;  // the caption says the preprocessing this model's inputs get
      const help = $("seen-help");
      help.dataset.shape = m.input_shape.slice(-2).join("×");
      help.dataset.i18n = { mnist: "draw.seen_help", digits: "draw.seen_help_digits" }[m.image_style] ?? "draw.seen_help_resize";
      help.textContent = t(help.dataset.i18n).replace("{shape}", help.dataset.shape);
    }
    if (m.kind === "table") { $("table").hidden = false; buildForm(m.features); }
    if (m.kind === "text") $("text").hidden = false;
  }
  const select = $("learn-spec");
  for (const [name, bounds] of Object.entries(m.playground)) {
    const option = document.createElement("option");
    option.value = name; option.textContent = name; option.dataset.max = bounds.max_epochs;
    select.append(option);
  }
  if (window.vectorSpace) window.vectorSpace.load(m);  // the vector space card (static/space.js), when the run stored one
}

const pct = (v) => `${(100 * v).toFixed(1)}%`;

// ------------------------------------------------------------------ drawing
const pad = $("pad");
const ctx = pad.getContext("2d");
function clearPad() {
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, pad.width, pad.height);
  for (const id of ["seen", "saliency"]) { const c = $(id); c.getContext("2d").clearRect(0, 0, c.width, c.height); }
  state.lastAnswer = null; $("answer-body").hidden = true; $("answer-empty").hidden = false;
  if (window.vectorSpace) window.vectorSpace.clear();
}
let drawing = false, last = null, lastSent = 0;
function point(e) { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; }
pad.addEventListener("pointerdown", (e) => { drawing = true; last = point(e); pad.setPointerCapture(e.pointerId); stroke(last, last); });
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  const p = point(e); stroke(last, p); last = p;
  if (performance.now() - lastSent > 150) { lastSent = performance.now(); predictDrawing(); }
});
for (const ev of ["pointerup", "pointercancel"]) pad.addEventListener(ev, () => { if (drawing) { drawing = false; predictDrawing(); } });
function stroke(a, b) {
  ctx.strokeStyle = "#000"; ctx.lineWidth = 18; ctx.lineCap = "round"; ctx.lineJoin = "round";
  ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
}
$("clear").addEventListener("click", clearPad);
$("upload").addEventListener("change", (e) => {
  const file = e.target.files[0]; if (!file) return;
  const img = new Image();
  img.onload = () => {
    clearPad();
    const s = Math.min(pad.width / img.width, pad.height / img.height);
    ctx.drawImage(img, (pad.width - img.width * s) / 2, (pad.height - img.height * s) / 2, img.width * s, img.height * s);
    URL.revokeObjectURL(img.src); predictDrawing();
  };
  img.src = URL.createObjectURL(file);
});
$("show-saliency").addEventListener("change", (e) => { $("saliency").style.visibility = e.target.checked ? "visible" : "hidden"; });

async function predictDrawing() {
  if (state.inflight) { state.pending = true; return; }
  state.inflight = true;
  const image = snapshot();
  const space = window.vectorSpace && window.vectorSpace.placing();  // where the drawing lands, in the same answer
  try {
    const answer = await api("/api/predict", post(space ? { image, place: true, layer: space.layer } : { image }));
    showAnswer(answer);
    if (space) window.vectorSpace.show({ image }, answer.space);
  }
  catch (e) { showError(e); if (space) window.vectorSpace.show({ image }, null); }
  finally { state.inflight = false; if (state.pending) { state.pending = false; predictDrawing(); } }
}

// The drawing as a PNG at 112x112: the network sees 28x28, so the full 280x280 canvas would only
// cost the server more decoding and resampling for the same input.
const SEND_SIZE = 112;
function snapshot() {
  const small = document.createElement("canvas"); small.width = small.height = SEND_SIZE;
  const g = small.getContext("2d"); g.imageSmoothingEnabled = true; g.imageSmoothingQuality = "high";
  g.drawImage(pad, 0, 0, SEND_SIZE, SEND_SIZE);
  return small.toDataURL("image/png");
}

function post(body) { return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }; }

// ------------------------------------------------------------------ answers
function showAnswer(a) {
  state.lastAnswer = a;
  $("answer-empty").hidden = true;
  if (a.value !== undefined) { $("value-body").hidden = false; $("value").textContent = a.value.map((v) => v.toPrecision(4)).join(", "); return; }
  $("answer-body").hidden = false;
  $("top-class").textContent = a.prediction;
  $("confidence").textContent = pct(a.confidence);
  const verdict = $("verdict");
  verdict.textContent = a.not_sure ? t("answer.not_sure") : t("answer.sure");
  verdict.className = a.not_sure ? "badge not-sure" : "badge";
  verdict.hidden = a.threshold === null;  // no threshold fitted: no sure / not-sure verdict, and the help says so
  const help = $("sure-help");
  help.dataset.i18n = a.threshold === null ? "answer.no_threshold" : "answer.not_sure_help";
  help.textContent = t(help.dataset.i18n);
  const probs = $("probs");
  probs.replaceChildren();
  a.classes.forEach((name, i) => {
    const row = document.createElement("div");
    row.className = "prob" + (i === a.index ? " top" : "");
    row.dataset.cls = name;
    const label = document.createElement("span"); label.textContent = name;
    const track = document.createElement("div"); track.className = "track";
    const bar = document.createElement("div"); bar.className = "bar"; bar.style.width = `${(100 * a.probabilities[i]).toFixed(1)}%`;
    track.append(bar);
    const value = document.createElement("span"); value.className = "small"; value.textContent = pct(a.probabilities[i]);
    row.append(label, track, value); probs.append(row);
  });
  if (a.input) paintGrid($("seen"), a.input, (v) => [255 * (1 - v), 255 * (1 - v), 255 * (1 - v), 255]);
  // the overlay shows where the gradient is large; the faint rest (under 15% of the peak) stays clear
  if (a.saliency && a.input) paintGrid($("saliency"), a.saliency, (v) => [220, 38, 38, v < 0.15 ? 0 : Math.round(60 + 170 * v)]);
}

function paintGrid(canvas, grid, color) {
  const h = grid.length, w = grid[0].length;
  const small = new ImageData(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) small.data.set(color(grid[y][x]), 4 * (y * w + x));
  const off = document.createElement("canvas"); off.width = w; off.height = h;
  off.getContext("2d").putImageData(small, 0, 0);
  const c = canvas.getContext("2d");
  c.imageSmoothingEnabled = false;
  c.clearRect(0, 0, canvas.width, canvas.height);
  c.drawImage(off, 0, 0, canvas.width, canvas.height);
}

function showError(e) { const s = $("status"); s.hidden = false; s.textContent = `${t("page.error")}: ${e.message}`; }

// ------------------------------------------------------------------ tables and texts
function buildForm(features) {
  const form = $("features");
  for (const f of features) {
    const label = document.createElement("label"); label.textContent = f.name; label.htmlFor = `f-${f.name}`;
    let input;
    if (f.categories) {
      input = document.createElement("select");
      for (const c of f.categories) { const o = document.createElement("option"); o.value = c; o.textContent = c; input.append(o); }
    } else if (f.type === "text" || f.type === "date") {  // free text, or a date as the file writes it
      input = document.createElement("input"); input.type = "text"; input.placeholder = f.type === "date" ? "YYYY-MM-DD" : "";
    } else { input = document.createElement("input"); input.type = "number"; input.step = "any"; input.value = f.default ?? 0; }
    input.id = `f-${f.name}`; input.name = f.name;
    form.append(label, input);
  }
}
$("table-predict").addEventListener("click", async () => {
  const features = {};
  for (const el of $("features").elements) features[el.name] = el.type === "number" ? Number(el.value) : el.value;
  if (window.vectorSpace) window.vectorSpace.embed({ features });
  try { showAnswer(await api("/api/predict", post({ features }))); } catch (e) { showError(e); }
});
$("text-predict").addEventListener("click", async () => {
  try { showAnswer(await api("/api/predict", post({ text: $("text-input").value }))); } catch (e) { showError(e); }
});

// ------------------------------------------------------------------ a language model writes
$("prompt").addEventListener("input", () => { if (window.vectorSpace) window.vectorSpace.embed({ text: $("prompt").value }); });
$("gen-start").addEventListener("click", () => {
  const out = $("gen-out"); out.textContent = $("prompt").value;
  const q = new URLSearchParams({ prompt: $("prompt").value, tokens: $("gen-tokens").value, temperature: $("gen-temp").value });
  const source = new EventSource(`/api/generate?${q}`);
  $("gen-start").disabled = true;
  source.onmessage = (e) => { out.textContent += JSON.parse(e.data); };
  const end = () => { source.close(); $("gen-start").disabled = false; };
  source.addEventListener("done", end);
  source.onerror = end;
});

// ------------------------------------------------------------------ watch it learn
$("learn-spec").addEventListener("change", (e) => { $("learn-epochs").max = e.target.selectedOptions[0].dataset.max; });
$("learn-start").addEventListener("click", async () => {
  const status = $("learn-status");
  try {
    await api("/api/train", post({ spec: $("learn-spec").value, epochs: Number($("learn-epochs").value) }));
  } catch (e) {
    status.textContent = e.status === 409 ? t("learn.busy") : `${t("page.error")}: ${e.message}`;
    return;
  }
  listen();
});

function listen() {
  if (state.source) state.source.close();
  state.lossTrain = []; state.lossVal = [];
  const status = $("learn-status");
  status.dataset.i18n = "learn.running"; status.textContent = t("learn.running");
  $("learn-start").disabled = true;
  const source = new EventSource("/api/train/events");
  state.source = source;
  source.onmessage = (msg) => {
    const e = JSON.parse(msg.data);
    if (e.type === "epoch") {
      state.lossTrain.push(e.train_loss); if (e.val_loss !== undefined) state.lossVal.push(e.val_loss);
      $("learn-epoch").textContent = e.epoch;
      if (e.val_accuracy !== undefined) $("learn-acc").textContent = pct(e.val_accuracy);
      drawLoss(); if (e.filters) drawFilters(e.filters);
    } else if (e.type === "done" || e.type === "error") {
      source.close(); $("learn-start").disabled = false;
      delete status.dataset.i18n;
      status.textContent = e.type === "done" ? `${t("learn.done")} · ${t("learn.test_accuracy")}: ${pct(e.test_accuracy)}` : `${t("page.error")}: ${e.message}`;
    }
  };
  source.onerror = () => { source.close(); $("learn-start").disabled = false; };
}

function drawLoss() {
  const c = $("loss-chart"), g = c.getContext("2d"), pad = 24;
  g.clearRect(0, 0, c.width, c.height);
  const all = state.lossTrain.concat(state.lossVal); if (!all.length) return;
  const top = Math.max(...all), n = Math.max(2, state.lossTrain.length);
  g.strokeStyle = "#dde2ea"; g.strokeRect(pad, 4, c.width - pad - 4, c.height - pad - 4);
  g.fillStyle = "#5b6577"; g.font = "11px sans-serif"; g.fillText(top.toFixed(2), 0, 12); g.fillText("0", 8, c.height - pad);
  const line = (values, color) => {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    values.forEach((v, i) => {
      const x = pad + (c.width - pad - 8) * i / (n - 1), y = 4 + (c.height - pad - 8) * (1 - v / top);
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
  };
  line(state.lossTrain, "#2b6cb0"); line(state.lossVal, "#b7791f");
}

function drawFilters(filters) {
  const box = $("filters");
  while (box.children.length < filters.length) { const cv = document.createElement("canvas"); cv.width = filters[0][0].length; cv.height = filters[0].length; box.append(cv); }
  filters.forEach((f, i) => paintGrid(box.children[i], f, (v) => [255 * v, 255 * v, 255 * v, 255]));
}

// ------------------------------------------------------------------ start
$("lang").addEventListener("change", (e) => setLanguage(e.target.value));
clearPad();
setLanguage(state.lang).then(loadModel).catch(showError);

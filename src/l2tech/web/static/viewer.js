// Viewer: every image is the pipeline's render (/api/render); the browser only places them.
"use strict";
const enc = encodeURIComponent;
const params = new URLSearchParams(location.search);
const path = params.get("path");
const isVideo = params.get("kind") === "video";
const state = { lens: "", look: "", exposure_ev: "0", full: false, t: "0", camera: "", vlens: "", focal: "" };
let renderSeq = 0;
const $ = id => document.getElementById(id);

function corrections() {
  return ["vignetting", "tca", "distortion"].filter(c => $("corr-" + c).checked).join(",");
}

function recipeParams() {
  const p = { corrections: corrections(), exposure_ev: state.exposure_ev };
  if (state.lens) p.lens = state.lens;
  if (state.look) p.look = state.look;
  return p;
}

function query(extra) {
  const q = new URLSearchParams({ path, ...recipeParams(), ...extra });
  return q.toString();
}

async function loadImage(img, url) {
  const r = await fetch(url);
  if (!r.ok) {
    const e = await r.json().catch(() => ({ error: r.statusText }));
    throw new Error(e.error || r.statusText);
  }
  const blob = await r.blob();
  const old = img.src;
  img.src = URL.createObjectURL(blob);
  if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
  await img.decode().catch(() => {});
  return r.headers;
}

function frameQuery(side, size) {
  const q = { path, t: state.t, side, size };
  if (state.camera) q.camera = state.camera;
  if (state.vlens) q.lens = state.vlens;
  if (state.focal) q.focal_length_mm = state.focal;
  return new URLSearchParams(q).toString();
}

async function renderFrame() {
  const seq = ++renderSeq;
  document.body.dataset.state = "rendering";
  $("status").textContent = "rendering the frame through the video pipeline…";
  $("status").classList.remove("warn");
  const size = state.full ? "full" : "preview";
  try {
    const [hb, ha] = await Promise.all([
      loadImage($("before"), "/api/frame?" + frameQuery("before", size)),
      loadImage($("after-img"), "/api/frame?" + frameQuery("after", size)),
    ]);
    if (seq !== renderSeq) return;
    $("sha").textContent = ha.get("X-L2-Pixel-SHA256");
    $("size").textContent = ha.get("X-L2-Size");
    $("v-lines").textContent = ha.get("X-L2-Lens") || "";
    document.body.dataset.afterSha = ha.get("X-L2-Pixel-SHA256");
    document.body.dataset.beforeSha = hb.get("X-L2-Pixel-SHA256");
    $("stage").classList.toggle("full", state.full);
    $("status").textContent = "";
    document.body.dataset.state = "ready";
  } catch (err) {
    if (seq !== renderSeq) return;
    $("status").textContent = String(err.message || err);
    $("status").classList.add("warn");
    document.body.dataset.state = "error";
  }
}

async function render() {
  if (isVideo) return renderFrame();
  const seq = ++renderSeq;
  document.body.dataset.state = "rendering";
  $("status").textContent = "rendering…";
  const size = state.full ? "full" : "preview";
  try {
    const [hb, ha] = await Promise.all([
      loadImage($("before"), "/api/render?" + query({ size, before: "1" })),
      loadImage($("after-img"), "/api/render?" + query({ size })),
    ]);
    if (seq !== renderSeq) return;
    $("sha").textContent = ha.get("X-L2-Pixel-SHA256");
    $("size").textContent = ha.get("X-L2-Size") + (state.full ? " (full resolution)" : " (preview reduced for the screen)");
    document.body.dataset.afterSha = ha.get("X-L2-Pixel-SHA256");
    document.body.dataset.beforeSha = hb.get("X-L2-Pixel-SHA256");
    document.body.dataset.size = size;
    $("stage").classList.toggle("full", state.full);
    $("status").textContent = "";
    await loadLens();
    if (seq === renderSeq) document.body.dataset.state = "ready";
  } catch (err) {
    if (seq !== renderSeq) return;
    $("status").textContent = String(err.message || err);
    $("status").classList.add("warn");
    document.body.dataset.state = "error";
    loadLens();
  }
}

async function loadLens() {
  const r = await fetch("/api/lens?" + query({}));
  const info = await r.json();
  const box = $("candidates");
  if (info.error) { box.textContent = info.error; return; }
  const plan = info.plan;
  const reasons = [];
  for (const [c, v] of Object.entries(plan.corrections || {})) {
    if (!v.applied && v.reason) reasons.push(c + ": " + v.reason);
  }
  if (plan.error) reasons.push(plan.error);
  $("reasons").textContent = reasons.join("\n");
  box.innerHTML = "";
  const mk = (value, label, reason, checked) => {
    const l = document.createElement("label");
    l.className = "cand";
    const i = document.createElement("input");
    i.type = "radio"; i.name = "lens"; i.value = value; i.checked = checked;
    i.addEventListener("change", () => { state.lens = value; render(); });
    l.append(i, " " + label);
    box.appendChild(l);
    if (reason) { const d = document.createElement("div"); d.className = "reason"; d.textContent = reason; box.appendChild(d); }
  };
  mk("", "automatic" + (state.lens ? "" : (plan.lens ? ": " + plan.lens : ": none")), "l2tech's own match", !state.lens);
  for (const c of info.candidates) {
    mk(c.name, c.name + " (" + c.score.toFixed(2) + ")", c.reason, state.lens === c.name);
  }
}

async function loadLooks() {
  const r = await fetch("/api/looks");
  const data = await r.json();
  for (const name of data.looks) {
    const o = document.createElement("option");
    o.value = name; o.textContent = name;
    $("look").appendChild(o);
  }
}

function setSplit(v) {
  $("after").style.clipPath = "inset(0 0 0 " + v + "%)";
  $("split-line").style.left = v + "%";
}

$("split").addEventListener("input", e => setSplit(e.target.value));
$("grid").addEventListener("change", e => $("stage").classList.toggle("show-grid", e.target.checked));
$("full").addEventListener("change", e => { state.full = e.target.checked; render(); });
for (const c of ["vignetting", "tca", "distortion"]) $("corr-" + c).addEventListener("change", render);
$("look").addEventListener("change", e => { state.look = e.target.value; render(); });
$("exposure").addEventListener("input", e => { $("ev-value").textContent = Number(e.target.value).toFixed(1); });
$("exposure").addEventListener("change", e => { state.exposure_ev = e.target.value; render(); });
$("save").addEventListener("click", async () => {
  const r = await fetch("/api/recipe", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path, recipe: recipeParams() }),
  });
  const data = await r.json();
  $("saved").textContent = r.ok ? "saved " + data.file : (data.error || r.statusText);
  document.body.dataset.savedRecipe = r.ok ? data.file : "";
});

$("file").textContent = path;
setSplit(50);
if (isVideo) {
  for (const id of ["fs-corr", "fs-lens", "fs-look", "save"]) $(id).hidden = true;
  $("fs-video").hidden = false;
  fetch("/api/video?path=" + enc(path)).then(r => r.json()).then(info => {
    if (info.error) { $("status").textContent = info.error; return; }
    $("time").max = String(Math.max(0, info.duration_s - 1 / (info.fps || 30)));
    $("time").step = String(1 / (info.fps || 30));
  });
  $("time").addEventListener("input", e => { $("t-value").textContent = Number(e.target.value).toFixed(2); });
  $("time").addEventListener("change", e => { state.t = e.target.value; render(); });
  $("v-apply").addEventListener("click", () => {
    state.camera = $("v-camera").value.trim(); state.vlens = $("v-lens").value.trim(); state.focal = $("v-focal").value.trim();
    render();
  });
  render();
} else {
  loadLooks();
  render();
}

// Lens search: results from /api/lenses; a lens page is /lens/ID, a comparison /lens/A?compare=B.
"use strict";
const $ = id => document.getElementById(id);
const ticked = [];

async function search(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({ q: $("q").value, mount: $("mount").value });
  const r = await fetch("/api/lenses?" + q);
  const data = await r.json();
  const ol = $("results");
  ol.innerHTML = "";
  if (data.error) { ol.textContent = data.error; return; }
  for (const row of data.results) {
    const li = document.createElement("li");
    const cb = document.createElement("input");
    cb.type = "checkbox"; cb.value = row.id;
    cb.addEventListener("change", () => {
      const i = ticked.indexOf(row.id);
      if (cb.checked && i < 0) ticked.push(row.id);
      if (!cb.checked && i >= 0) ticked.splice(i, 1);
      $("compare").disabled = ticked.length !== 2;
    });
    const a = document.createElement("a");
    a.href = "/lens/" + row.id; a.textContent = row.name;
    const s = document.createElement("small");
    s.textContent = " " + row.mounts.join(", ") + "; crop " + row.crop_factor + "; " + row.reason;
    li.append(cb, " ", a, s);
    ol.appendChild(li);
  }
  if (!data.results.length) ol.textContent = "no lens found";
}
$("form").addEventListener("submit", search);
$("compare").addEventListener("click", () => { location.href = "/lens/" + ticked[0] + "?compare=" + ticked[1]; });

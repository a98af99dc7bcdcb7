// Folder view: one card per image, with the lens l2tech matched and why.
"use strict";
const enc = encodeURIComponent;

async function loadFolder() {
  const r = await fetch("/api/files");
  const data = await r.json();
  document.getElementById("title").textContent = "Folder: " + data.folder;
  const box = document.getElementById("files");
  for (const f of data.files) {
    const a = document.createElement("a");
    a.className = "card"; a.dataset.path = f.path; a.dataset.kind = f.kind;
    if (f.kind === "video") {
      a.href = "/view?kind=video&path=" + enc(f.path);
      a.innerHTML = '<img alt="" loading="lazy"><div class="name"></div><div class="lens dim">video clip: frame scrubber</div>';
      a.querySelector("img").src = "/api/frame?side=before&size=thumb&t=0&path=" + enc(f.path);
    } else {
      a.href = "/view?path=" + enc(f.path);
      a.innerHTML = '<img alt="" loading="lazy"><div class="name"></div><div class="lens dim">matching…</div>';
      a.querySelector("img").src = "/api/thumb?path=" + enc(f.path);
      fetch("/api/lens?path=" + enc(f.path)).then(x => x.json()).then(info => {
        const el = a.querySelector(".lens");
        if (info.error) { el.textContent = info.error; el.classList.add("warn"); return; }
        const p = info.plan;
        const n = info.candidates.length;
        el.textContent = p.lens ? "lens: " + p.lens + (p.match_method ? " (" + p.match_method + " match)" : "")
                                : "no lens profile: " + (p.error || (p.warnings || [])[0] || "none found").split(";")[0];
        if (!p.lens) el.classList.add("warn");
        if (n) {
          const ul = document.createElement("ul");
          ul.className = "cands";
          for (const c of info.candidates.slice(0, 4)) {
            const li = document.createElement("li");
            li.textContent = c.name + (c.chosen ? " ✓" : "");
            li.title = c.reason;
            ul.appendChild(li);
          }
          el.after(ul);
        }
        el.title = (p.warnings || []).join("\n");
      });
    }
    a.querySelector(".name").textContent = f.path;
    box.appendChild(a);
  }
  if (!data.files.length) box.textContent = "No images or clips in this folder.";
}
loadFolder();

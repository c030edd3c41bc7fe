// imagineer serve: the little JavaScript the pages need. Every write goes through post(),
// which carries the page's CSRF token; conflicts and errors are shown, never swallowed.
"use strict";

const csrf = document.querySelector('meta[name="imagineer-csrf"]').content;

function toast(text, kind) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = kind || "";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 15000 : 8000);
}

async function post(url, data) {
  const res = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"content-type": "application/json", "x-imagineer-csrf": csrf},
    body: JSON.stringify(data),
  });
  let body;
  try { body = await res.json(); } catch (e) { body = {ok: false, error: `HTTP ${res.status}`}; }
  body.status = res.status;
  return body;
}

function report(out, res) {
  const text = res.ok ? res.message + (res.hint ? ` (${res.hint})` : "") : res.error;
  if (out) {
    out.textContent = text;
    out.className = "result " + (res.ok ? "ok" : res.conflict ? "conflict" : "error");
    if (res.ok && res.target) {
      const b = document.createElement("button");
      b.type = "button"; b.dataset.build = res.target; b.textContent = `build ${res.target}`;
      out.append(" ", b);
    }
  }
  toast(text, res.ok ? "ok" : "error");
}

// ---- label form: only the fields that changed are sent ---------------------------------------
function labelChanges(form) {
  const out = {};
  const cap = form.elements.caption, tags = form.elements.tags, nsfw = form.elements.nsfw;
  if (cap && cap.value.trim() !== cap.dataset.initial.trim()) out.caption = cap.value;
  const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
  if (tags && list(tags.value).join(",") !== list(tags.dataset.initial).join(",")) out.tags = list(tags.value);
  if (nsfw && nsfw.value !== nsfw.dataset.initial) out.nsfw = nsfw.value || null;
  return out;
}

document.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (form.id === "build-form") {
    ev.preventDefault();
    const targets = Array.from(form.elements.targets.selectedOptions).map((o) => o.value);
    return startBuild(targets);
  }
  if (!form.dataset.api) return;
  ev.preventDefault();
  const out = form.querySelector("output");
  const d = form.dataset;
  let data;
  if (d.api === "/api/label") {
    const changes = labelChanges(form);
    if (!Object.keys(changes).length) return report(out, {ok: false, error: "nothing changed"});
    data = {target: d.target, digest: d.digest, seen: d.seen, ...changes};
  } else if (d.api === "/api/faces/name") {
    data = {target: d.target, cluster: Number(d.cluster), seen: d.seen, name: form.elements.name.value};
  } else if (d.api === "/api/faces/move") {
    data = {target: d.target, face: d.face, seen: d.seen, to: form.elements.to.value};
  }
  const res = await post(d.api, data);
  if (res.ok) {
    d.seen = res.seen;
    if (d.api === "/api/label") {
      for (const name of ["caption", "tags", "nsfw"]) {
        const el = form.elements[name];
        if (el) el.dataset.initial = el.value;
      }
    }
  }
  report(out, res);
});

document.addEventListener("click", async (ev) => {
  const btn = ev.target.closest("button");
  if (!btn) return;
  if (btn.dataset.build !== undefined) {
    return startBuild(btn.dataset.build ? [btn.dataset.build] : []);
  }
  if (btn.dataset.flag) {
    const box = btn.closest(".flagger");
    const res = await post("/api/flag", {target: box.dataset.target, digest: box.dataset.digest,
                                         seen: box.dataset.seen, flag: btn.dataset.flag});
    if (res.ok) {
      box.dataset.seen = res.seen;
      box.querySelectorAll("button[data-flag]").forEach((b) => b.classList.toggle("on", b === btn && btn.dataset.flag !== "clear"));
    }
    return report(box.querySelector("output") || null, res);
  }
  if (btn.dataset.decision) {
    const box = btn.closest(".review");
    const res = await post("/api/review", {target: box.dataset.target, digest: box.dataset.digest,
                                           seen: box.dataset.seen, decision: btn.dataset.decision});
    if (res.ok) {
      box.dataset.seen = res.seen;
      box.querySelector(".review-status").textContent = btn.dataset.decision;
    }
    return report(box.querySelector("output"), res);
  }
  if (btn.id === "stop") {
    const res = await post("/api/build/stop", {});
    toast(res.ok ? "stopping the build" : "no build is running", res.ok ? "ok" : "error");
  }
});

async function startBuild(targets) {
  const res = await post("/api/build", {targets});
  if (!res.ok) return toast(res.error, "error");
  if (document.getElementById("build")) {
    follow(res.run - 1);
  } else {
    location.href = "/build?run=" + res.run;
  }
}

// ---- the build page: follow the engine's events ----------------------------------------------
let source = null;

function follow(after) {
  const box = document.getElementById("build");
  if (!box) return;
  if (source) source.close();
  document.getElementById("build-status").textContent = "connecting…";
  source = new EventSource("/api/build/events?after=" + after);
  const rows = {};
  const log = document.getElementById("log");
  const tbody = document.querySelector("#targets-progress tbody");
  const row = (target) => {
    if (!rows[target]) {
      const tr = document.createElement("tr");
      tr.dataset.target = target;
      tr.innerHTML = "<th></th><td class='st'></td><td><progress max='1' value='0'></progress></td><td class='msg'></td>";
      tr.querySelector("th").textContent = target;
      tbody.append(tr);
      rows[target] = tr;
    }
    return rows[target];
  };
  const line = (text, cls) => {
    const li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    log.append(li);
    if (log.children.length > 800) log.firstChild.remove();
  };
  const on = (name, fn) => source.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  source.onopen = () => { document.getElementById("build-status").textContent = "following the build"; };
  on("build", (e) => { box.dataset.run = e.run; line(`build ${e.targets.join(", ") || "every target"} (run ${e.run})`, "head"); });
  on("start", (e) => {
    const r = row(e.target);
    r.querySelector(".st").textContent = "building";
    r.className = "building";
    line(`${e.target}: building (${(e.reason || []).slice(0, 2).join("; ")})`);
  });
  on("progress", (e) => {
    const r = row(e.target);
    const p = r.querySelector("progress");
    p.max = e.total || 1; p.value = e.done;
    r.querySelector(".msg").textContent = `${e.done}/${e.total} ${e.message || ""}`;
    box.dataset.progress = String(Number(box.dataset.progress || 0) + 1);
  });
  on("log", (e) => line(`${e.target ? e.target + ": " : ""}${e.message}`, e.level));
  on("target", (e) => {
    const r = row(e.target);
    r.className = e.status;
    r.querySelector(".st").textContent = e.status;
    if (e.status === "built" || e.status === "cached") { const p = r.querySelector("progress"); p.max = 1; p.value = 1; }
    line(`${e.target}: ${e.status} in ${e.seconds} s${e.error ? " — " + e.error : ""}`, e.status);
  });
  on("summary", (e) => line(`${e.ok} of ${e.targets} targets ok` + (e.failed.length ? `; failed: ${e.failed.join(", ")}` : ""), "head"));
  on("done", (e) => {
    document.getElementById("build-status").textContent = `finished: ${e.status} in ${e.seconds} s` + (e.error ? ` — ${e.error}` : "");
    box.dataset.done = e.status;
    document.querySelectorAll("header .building").forEach((el) => el.remove());
    source.close();
  });
  source.onerror = () => { document.getElementById("build-status").textContent = "reconnecting…"; };
}

// ---- face boxes over the image -----------------------------------------------------------------
function placeBoxes() {
  const img = document.getElementById("full");
  if (!img) return;
  document.querySelectorAll(".facebox").forEach((el) => {
    const [x, y, w, h] = el.dataset.box.split(",").map(Number);
    const sx = img.clientWidth / Number(el.dataset.w), sy = img.clientHeight / Number(el.dataset.h);
    Object.assign(el.style, {left: `${x * sx}px`, top: `${y * sy}px`, width: `${w * sx}px`, height: `${h * sy}px`});
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("build");
  if (box) follow(Number(box.dataset.after || 0));
  const img = document.getElementById("full");
  if (img) { if (img.complete) placeBoxes(); img.addEventListener("load", placeBoxes); window.addEventListener("resize", placeBoxes); }
  document.body.dataset.ready = "yes";
});

// picdex web UI: a thin client of GET /v1/search. The page state lives in
// the URL, so reload, back and shared links all work. Record text is
// escaped here; highlight fragments come from the server already escaped,
// with only <mark> tags added.
"use strict";

const PAGE_SIZE = 24;
const FACETS = [
  { field: "tags", label: "Tags", param: "tags", multi: true },
  { field: "format", label: "Format", param: "format", multi: true },
  { field: "camera.make", label: "Camera", param: "make", multi: false },
  { field: "taken_at", label: "Taken", param: "taken", multi: false },
];
// Parameters the UI keeps in its own URL and forwards to the API.
const FILTERS = ["tags", "format", "make", "model", "taken_from", "taken_to", "similar", "distance", "near", "bbox", "sort"];

const $ = (id) => document.getElementById(id);

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// state is the page's URL parameters; cursors is the stack of cursors of
// the pages before the current one, for "Previous".
function state() {
  return new URLSearchParams(location.search);
}

function go(params, replace) {
  const url = params.toString() ? "?" + params.toString() : location.pathname;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  run();
}

function withParam(mutate) {
  const p = state();
  p.delete("cursor");
  p.delete("prev");
  mutate(p);
  go(p);
}

// takenRange maps a taken_at facet bucket ("2019", "1990s", "1500s",
// "<1500") to an inclusive date range.
function takenRange(bucket) {
  const end = (y) => `${y}-12-31T23:59:59Z`;
  const pad = (y) => String(y).padStart(4, "0");
  if (bucket.startsWith("<")) return [null, end(pad(+bucket.slice(1) - 1))];
  const m = bucket.match(/^(\d{4})(s?)$/);
  if (!m) return [null, null];
  const y = +m[1];
  if (!m[2]) return [`${pad(y)}-01-01`, end(pad(y))];
  const span = y < 1900 ? 100 : 10;
  return [`${pad(y)}-01-01`, end(pad(y + span - 1))];
}

function apiQuery(p) {
  const a = new URLSearchParams();
  const q = p.get("q");
  if (q) a.set("q", q);
  for (const k of FILTERS) for (const v of p.getAll(k)) a.append(k, v);
  if (p.get("cursor")) a.set("cursor", p.get("cursor"));
  a.set("size", PAGE_SIZE);
  for (const f of FACETS) a.append("facet", f.field);
  return a;
}

let seq = 0;

async function run() {
  const p = state();
  $("q").value = p.get("q") || "";
  renderActive(p);
  const my = ++seq;
  $("status").textContent = "Searching…";
  let res, body;
  try {
    res = await fetch("/v1/search?" + apiQuery(p).toString(), { headers: { Accept: "application/json" } });
    body = await res.json();
  } catch (e) {
    if (my === seq) showError("The server did not answer: " + e.message);
    return;
  }
  if (my !== seq) return; // a newer search is under way
  if (!res.ok) {
    showError(body?.error?.message || res.statusText);
    $("results").replaceChildren();
    $("facets").replaceChildren();
    $("status").textContent = "";
    $("prev").hidden = $("next").hidden = true;
    return;
  }
  $("error").hidden = true;
  render(p, body);
}

function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = false;
}

function render(p, r) {
  const n = Number(r.total).toLocaleString();
  $("status").innerHTML = `<strong>${esc(n)}</strong> ${r.total === 1 ? "image" : "images"} · ${esc(r.took_ms)} ms` +
    (r.shards && r.shards.failed ? ` · <span class="warn">${esc(r.shards.failed)} of ${esc(r.shards.total)} shards failed</span>` : "");
  $("results").replaceChildren(...r.hits.map(card));
  if (!r.hits.length) {
    $("results").append(el("li", { class: "empty" }, "No images match. Try fewer words or remove a filter."));
  }
  renderFacets(p, r.facets || {});

  const prevs = p.getAll("prev");
  const page = prevs.length + 1;
  $("page").textContent = r.total > PAGE_SIZE ? `Page ${page}` : "";
  $("prev").hidden = page === 1;
  $("next").hidden = !r.next_cursor || page * PAGE_SIZE >= r.total;
  $("next").onclick = () => {
    const q = state();
    q.append("prev", q.get("cursor") || "");
    q.set("cursor", r.next_cursor);
    go(q);
    scrollTo(0, 0);
  };
  $("prev").onclick = () => {
    const q = state();
    const all = q.getAll("prev");
    const back = all.pop();
    q.delete("prev");
    for (const v of all) q.append("prev", v);
    if (back) q.set("cursor", back);
    else q.delete("cursor");
    go(q);
    scrollTo(0, 0);
  };
}

function card(hit) {
  const img = hit.image || {};
  const hl = hit.highlights || {};
  const title = hl.title ? hl.title[0] : esc(img.title || img.alt || img.id || hit.id);
  const caption = hl.caption ? hl.caption.join(" … ") : hl.alt ? hl.alt.join(" … ") : esc(img.caption || img.alt || "");

  const thumb = el("img", { src: img.url && /^https?:/i.test(img.url) ? img.url : "", alt: img.alt || img.title || "", loading: "lazy" });
  const frame = el("div", { class: "thumb" }, thumb);
  const fallback = () => {
    frame.classList.add("missing");
    frame.replaceChildren(el("span", {}, (img.format || "image").toUpperCase()));
  };
  thumb.addEventListener("error", fallback);
  if (!thumb.getAttribute("src")) fallback();

  const h = el("h3", {});
  h.innerHTML = title;
  const cap = el("p", { class: "caption" });
  cap.innerHTML = caption;

  const meta = [];
  if (img.width && img.height) meta.push(`${img.width}×${img.height}`);
  if (img.format) meta.push(img.format);
  if (img.camera && img.camera.make) meta.push([img.camera.make, img.camera.model].filter(Boolean).join(" "));
  if (img.taken_at) meta.push(img.taken_at.slice(0, 10));
  if (hit.distance != null) meta.push(`distance ${hit.distance}`);

  const tags = el("div", { class: "tags" }, ...(img.tags || []).slice(0, 6).map((t) =>
    el("button", { type: "button", class: "tag", onclick: () => withParam((p) => { if (!p.getAll("tags").includes(t)) p.append("tags", t); }) }, t)));

  const links = el("div", { class: "links" },
    el("span", { class: "score", title: "score" }, Number(hit.score).toFixed(3)));
  if (img.page_url && /^https?:/i.test(img.page_url)) {
    links.append(el("a", { href: img.page_url, rel: "noopener noreferrer", target: "_blank" }, "page"));
  }
  if (img.phash) {
    links.append(el("a", { href: "?similar=" + encodeURIComponent(img.phash), onclick: (e) => {
      e.preventDefault();
      go(new URLSearchParams({ similar: img.phash }));
    } }, "similar"));
  }
  links.append(el("a", { href: "/v1/images/" + encodeURIComponent(hit.id), target: "_blank" }, "json"));

  return el("li", { class: "card" }, frame,
    el("div", { class: "body" }, h, cap, el("p", { class: "meta" }, meta.join(" · ")), tags, links));
}

function isActive(p, f, value) {
  if (f.param === "taken") {
    const [from, to] = takenRange(value);
    return (p.get("taken_from") || null) === from && (p.get("taken_to") || null) === to;
  }
  return p.getAll(f.param).includes(value);
}

function toggle(f, value) {
  withParam((p) => {
    if (f.param === "taken") {
      const on = isActive(p, f, value);
      p.delete("taken_from");
      p.delete("taken_to");
      if (!on) {
        const [from, to] = takenRange(value);
        if (from) p.set("taken_from", from);
        if (to) p.set("taken_to", to);
      }
      return;
    }
    const vals = p.getAll(f.param);
    p.delete(f.param);
    if (vals.includes(value)) {
      for (const v of vals) if (v !== value) p.append(f.param, v);
    } else if (f.multi) {
      for (const v of vals) p.append(f.param, v);
      p.append(f.param, value);
    } else {
      p.set(f.param, value);
    }
  });
}

function renderFacets(p, facets) {
  const groups = [];
  for (const f of FACETS) {
    const vals = facets[f.field] || [];
    if (!vals.length) continue;
    const list = el("ul", {});
    for (const v of vals) {
      const active = isActive(p, f, v.value);
      list.append(el("li", {},
        el("button", { type: "button", class: active ? "facet on" : "facet", "aria-pressed": String(active), onclick: () => toggle(f, v.value) },
          el("span", { class: "v" }, v.value), el("span", { class: "n" }, Number(v.count).toLocaleString()))));
    }
    groups.push(el("section", { class: "group" }, el("h2", {}, f.label), list));
  }
  $("facets").replaceChildren(...groups);
}

// renderActive shows the filters in force as removable chips.
function renderActive(p) {
  const chips = [];
  const chip = (label, remove) => chips.push(el("button", { type: "button", class: "chip", title: "Remove filter", onclick: () => withParam(remove) }, label, " ×"));
  for (const k of FILTERS) {
    if (k === "taken_from" || k === "taken_to") continue;
    for (const v of p.getAll(k)) {
      chip(`${k}: ${v}`, (q) => {
        const rest = q.getAll(k).filter((x) => x !== v);
        q.delete(k);
        for (const x of rest) q.append(k, x);
        if (k === "similar") q.delete("distance");
      });
    }
  }
  if (p.get("taken_from") || p.get("taken_to")) {
    const label = `taken: ${(p.get("taken_from") || "…").slice(0, 10)} – ${(p.get("taken_to") || "…").slice(0, 10)}`;
    chip(label, (q) => { q.delete("taken_from"); q.delete("taken_to"); });
  }
  if (chips.length > 1) {
    chips.push(el("button", { type: "button", class: "chip clear", onclick: () => withParam((q) => { for (const k of FILTERS) q.delete(k); }) }, "Clear all"));
  }
  $("active").replaceChildren(...chips);
}

document.addEventListener("DOMContentLoaded", () => {
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    withParam((p) => {
      const q = $("q").value.trim();
      if (q) p.set("q", q);
      else p.delete("q");
    });
  });
  addEventListener("popstate", run);
  run();
});

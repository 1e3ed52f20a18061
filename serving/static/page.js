// The CSM risk-list page: plain DOM code, no framework, no CDN. Data comes from /v1 with the
// API key the user typed (kept in this tab's sessionStorage); all text is set with textContent,
// so account names and flags can never inject markup.
"use strict";

const TEXT = {
  en: {
    title: "Accounts at risk", keyLabel: "API key", open: "Open", owner: "CSM owner", segment: "Segment",
    band: "Health band", all: "All", red: "Red", yellow: "Yellow", green: "Green", account: "Account",
    health: "Health", churn: "Churn risk", arr: "ARR", atRisk: "ARR at risk", renewal: "Renewal",
    flags: "Top red flag and what to do", prev: "Previous", next: "Next", back: "Back to the list",
    drivers: "What drives the churn risk", actions: "Suggested actions", search: "Search",
    driversHint: "Red bars raise the risk, green bars lower it; longer bars matter more.",
    riskView: "Risk list", moversView: "Movers", moversHint: "Accounts whose health fell most since their previous scoring.",
    changeCol: "Change", why: "Why", overTime: "Over time", changed: "What changed", made: "How the health score is made",
    raise: "What would raise it", component: "Component", measure: "Measure", value: "Value", typicalCol: "Typical account",
    points: "Points", total: "Total", healthLine: "Health score", churnLine: "Churn risk",
    meta: (d, v) => `Scores as of ${d} · model ${v}`, page: (p, n) => `Page ${p} of ${n}`,
    summary: (n, r) => `${n} accounts · ${r} ARR at risk`, loading: "The server is still loading the model; retrying…",
    wrongKey: "That key was not accepted.", noFlags: "No strong red flags.", noActions: "Nothing to act on.",
    healthScore: "Health score", none: "–", inDays: (n) => (n >= 0 ? `in ${n} days` : `${-n} days ago`),
    of: (a, b) => `${a} of ${b}`, typical: (t) => `typical account: ${t}`, noHistory: "No earlier scoring to compare with yet.",
    oneScoring: "Only one scoring so far: the history grows with every run.", noMovers: "No account fell since its previous scoring.",
    options: "Each change on its own:", gain: (g) => `+${g} points`, noOptions: "Nothing a CSM can change would raise it.",
    segments: {},
  },
  tr: {
    title: "Risk altındaki hesaplar", keyLabel: "API anahtarı", open: "Aç", owner: "CSM sorumlusu", segment: "Segment",
    band: "Sağlık bandı", all: "Tümü", red: "Kırmızı", yellow: "Sarı", green: "Yeşil", account: "Hesap",
    health: "Sağlık", churn: "Kayıp riski", arr: "ARR", atRisk: "Risk altındaki ARR", renewal: "Yenileme",
    flags: "Başlıca kırmızı bayrak ve yapılacaklar", prev: "Önceki", next: "Sonraki", back: "Listeye dön",
    drivers: "Kayıp riskini ne belirliyor", actions: "Önerilen aksiyonlar", search: "Ara",
    driversHint: "Kırmızı çubuklar riski artırır, yeşil çubuklar azaltır; uzun çubuk daha önemlidir.",
    riskView: "Risk listesi", moversView: "En çok düşenler", moversHint: "Sağlık skoru bir önceki skorlamadan bu yana en çok düşen hesaplar.",
    changeCol: "Değişim", why: "Neden", overTime: "Zaman içinde", changed: "Ne değişti", made: "Sağlık skoru nasıl oluşuyor",
    raise: "Skoru ne yükseltir", component: "Bileşen", measure: "Ölçüt", value: "Değer", typicalCol: "Tipik hesap",
    points: "Puan", total: "Toplam", healthLine: "Sağlık skoru", churnLine: "Kayıp riski",
    meta: (d, v) => `Skor tarihi ${d} · model ${v}`, page: (p, n) => `Sayfa ${p} / ${n}`,
    summary: (n, r) => `${n} hesap · risk altındaki ARR ${r}`, loading: "Sunucu modeli yüklüyor; yeniden deneniyor…",
    wrongKey: "Bu anahtar kabul edilmedi.", noFlags: "Güçlü kırmızı bayrak yok.", noActions: "Yapılacak bir şey yok.",
    healthScore: "Sağlık skoru", none: "–", inDays: (n) => (n >= 0 ? `${n} gün sonra` : `${-n} gün önce`),
    of: (a, b) => `${a} / ${b}`, typical: (t) => `tipik hesap: ${t}`, noHistory: "Karşılaştırılacak önceki bir skorlama henüz yok.",
    oneScoring: "Şimdilik tek skorlama var: geçmiş her çalıştırmayla büyür.", noMovers: "Bir önceki skorlamadan bu yana düşen hesap yok.",
    options: "Her değişiklik tek başına:", gain: (g) => `+${g} puan`, noOptions: "CSM'in değiştirebileceği hiçbir şey skoru yükseltmiyor.",
    segments: { SMB: "KOBİ", "mid-market": "Orta ölçek", enterprise: "Kurumsal" },
  },
};
const PAGE_SIZE = 50;
const lang = new URLSearchParams(location.search).get("lang") === "tr" ? "tr" : "en";
const T = TEXT[lang];
const locale = lang === "tr" ? "tr-TR" : "en-US";
const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
const points = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
const whole = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const dateFmt = new Intl.DateTimeFormat(locale, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const shortDate = new Intl.DateTimeFormat(locale, { month: "short", year: "2-digit", timeZone: "UTC" });
const state = { page: 1, owner: "", segment: "", band: "", q: "", sort: "", listLoaded: false, currency: "USD", view: "risk" };
const $ = (id) => document.getElementById(id);
let money = new Intl.NumberFormat(locale, { style: "currency", currency: "USD", maximumFractionDigits: 0 });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

class AuthError extends Error {}

async function api(path) {
  const key = sessionStorage.getItem("churn-key") || "";
  const sep = path.includes("?") ? "&" : "?";
  for (;;) {
    const r = await fetch(`${path}${sep}lang=${lang}`, { headers: { Authorization: `Bearer ${key}`, Accept: "application/json" } });
    if (r.status === 401) throw new AuthError(T.wrongKey);
    if (r.status === 503) { $("status").textContent = T.loading; await new Promise((ok) => setTimeout(ok, 2000)); continue; }
    const body = await r.json();
    if (!r.ok) throw new Error(`${body.message} (request ${body.request_id})`);
    $("status").textContent = "";
    return body;
  }
}

const missing = (v) => v === null || v === undefined;
const fmtPct = (v) => (missing(v) ? T.none : percent.format(v));
const fmtMoney = (v) => (missing(v) ? T.none : money.format(v));
const fmtPoints = (v) => (missing(v) ? T.none : points.format(v));
const fmtDate = (iso) => (iso ? dateFmt.format(new Date(iso)) : T.none);
const segmentName = (s) => (s ? T.segments[s] || s : T.none);

function setCurrency(code) {
  if (code && code !== state.currency) {
    state.currency = code;
    money = new Intl.NumberFormat(locale, { style: "currency", currency: code, maximumFractionDigits: 0 });
  }
}

// One number per chip: the score in list rows, the band word where the score is shown beside it.
function bandChip(a, withScore = true) {
  const band = a.health_band || "none";
  const score = missing(a.health_score) ? T.none : whole.format(a.health_score);
  return el("span", { class: `band ${band}`, "data-band": band }, withScore ? `${score} ${T[band] || ""}`.trim() : T[band] || T.none);
}

function renewal(a) {
  if (missing(a.days_to_renewal)) return T.none;
  return `${fmtDate(a.renewal_date)} (${T.inDays(Math.round(a.days_to_renewal))})`;
}

// A flag is shown only with its value: "no data" is not a reason.
const shown = (flags) => flags.filter((f) => !missing(f.value));

function flagList(flags, limit) {
  const box = el("div");
  for (const f of shown(flags).slice(0, limit)) {
    const p = el("p", { class: "flag" }, f.sentence);
    if (f.action) p.append(el("br"), el("span", { class: "action" }, `→ ${f.action}`));
    box.append(p);
  }
  if (!box.childElementCount) box.append(el("span", { class: "action" }, T.noFlags));
  return box;
}

function fillSelect(select, values, chosen, name = (v) => v) {
  while (select.options.length > 1) select.remove(1);
  for (const v of values) select.append(el("option", { value: v }, name(v)));
  select.value = chosen;
}

function accountCell(a) {
  const cell = el("td", { class: "account" }, el("span", { class: "name" }, a.name || a.account_id));
  if (a.name) cell.append(el("span", { class: "id" }, a.account_id));
  return cell;
}

function open(id) { location.hash = `account=${encodeURIComponent(id)}`; }

async function loadList() {
  const q = new URLSearchParams({ page: state.page, page_size: PAGE_SIZE });
  for (const k of ["owner", "segment", "band", "q", "sort"]) if (state[k]) q.set(k, state[k]);
  const data = await api(`/v1/risk-list?${q}`);
  setCurrency(data.currency);
  $("meta").textContent = T.meta(data.as_of ? fmtDate(data.as_of) : T.none, data.model_version);
  fillSelect($("owner"), data.owners, state.owner);
  fillSelect($("segment"), data.segments, state.segment, segmentName);
  $("summary").textContent = T.summary(whole.format(data.total), fmtMoney(data.arr_at_risk_total));
  const rows = $("rows");
  rows.replaceChildren();
  data.items.forEach((a, i) => {
    const tr = el("tr", { "data-account": a.account_id, "data-band": a.health_band || "none", "data-arr": a.arr ?? "" });
    tr.append(
      el("td", { class: "num rank" }, String((state.page - 1) * PAGE_SIZE + i + 1)), accountCell(a),
      el("td", { class: "wide" }, segmentName(a.segment)), el("td", { class: "wide" }, a.csm_owner || T.none),
      el("td", {}, bandChip(a)), el("td", { class: "num" }, fmtPct(a.churn_probability)),
      el("td", { class: "num" }, fmtMoney(a.arr)), el("td", { class: "num" }, fmtMoney(a.arr_at_risk)),
      el("td", { class: "num" }, missing(a.renewal_date) ? T.none : fmtDate(a.renewal_date)),
      el("td", { class: "flags-col" }, flagList(a.red_flags, 1)),
    );
    tr.addEventListener("click", () => open(a.account_id));
    rows.append(tr);
  });
  for (const th of document.querySelectorAll("#risk-table th[data-sort]")) {
    const col = th.dataset.sort;
    th.setAttribute("aria-sort", state.sort === col ? "ascending" : state.sort === `-${col}` ? "descending" : "none");
  }
  const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
  $("page-info").textContent = T.page(state.page, pages);
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  state.listLoaded = true;
  document.body.dataset.list = "loaded";
  document.body.dataset.query = `${state.q}|${state.sort}|${state.band}`;
}

async function loadMovers() {
  const data = await api("/v1/movers?n=50");
  const rows = $("mover-rows");
  rows.replaceChildren();
  for (const m of data.items) {
    const tr = el("tr", { "data-account": m.account_id });
    tr.append(
      accountCell(m), el("td", {}, bandChip({ health_score: m.health_after, health_band: m.band_after })),
      el("td", { class: "num down" }, fmtPoints(m.health_change)), el("td", {}, m.sentence),
    );
    tr.addEventListener("click", () => open(m.account_id));
    rows.append(tr);
  }
  if (!data.items.length) rows.append(el("tr", {}, el("td", { colspan: 4 }, T.noMovers)));
  document.body.dataset.movers = "loaded";
}

function card(label, value, extra) {
  const box = el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  if (extra) box.append(extra);
  return box;
}

const NS = "http://www.w3.org/2000/svg";
function svgNode(svg, tag, attrs, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  svg.append(n);
  return n;
}

// Health (0-100) and churn risk (0-100%) on one 0-100 scale, with the bands' upper edges as lines.
function historyChart(history) {
  const items = history.items;
  const W = 720, H = 240, L = 40, R = 40, Tp = 14, B = 30;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("id", "history-chart");
  const x = (i) => L + (items.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (items.length - 1));
  const y = (v) => Tp + (1 - v / 100) * (H - Tp - B);
  for (const [name, , high] of history.bands.slice(0, -1)) {
    svgNode(svg, "line", { x1: L, x2: W - R, y1: y(high), y2: y(high), class: `band-line ${name}` });
    svgNode(svg, "text", { x: L - 4, y: y(high) + 4, "text-anchor": "end", class: "axis" }, String(high));
  }
  for (const v of [0, 100]) svgNode(svg, "text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", class: "axis" }, String(v));
  const step = Math.max(1, Math.ceil(items.length / 8));
  items.forEach((p, i) => {
    if (i % step === 0 || i === items.length - 1)
      svgNode(svg, "text", { x: x(i), y: H - 8, "text-anchor": "middle", class: "axis" }, shortDate.format(new Date(p.as_of)));
  });
  const line = (key, scale, cls) => {
    const pts = items.map((p, i) => [i, p[key]]).filter(([, v]) => !missing(v));
    if (pts.length > 1) svgNode(svg, "polyline", { points: pts.map(([i, v]) => `${x(i)},${y(v * scale)}`).join(" "), class: cls });
    for (const [i, v] of pts) {
      const dot = svgNode(svg, "circle", { cx: x(i), cy: y(v * scale), r: 4, class: `${cls} point`, "data-as-of": items[i].as_of });
      const title = document.createElementNS(NS, "title");
      title.textContent = `${fmtDate(items[i].as_of)}: ${key === "health_score" ? fmtPoints(v) : fmtPct(v)}`;
      dot.append(title);
    }
  };
  line("health_score", 1, "health-line");
  line("churn_probability", 100, "churn-line");
  const legend = el("p", { class: "legend" },
    el("span", { class: "key health" }, T.healthLine), el("span", { class: "key churn" }, `${T.churnLine} (%)`));
  const box = el("div", {}, svg, legend);
  if (items.length < 2) box.append(el("p", { class: "hint" }, T.oneScoring));
  return box;
}

function changesView(body) {
  if (!body.change) return el("p", { class: "hint" }, T.noHistory);
  const c = body.change;
  return el("div", {}, el("p", { id: "d-change-health", class: "story" }, c.health_sentence),
    el("p", { id: "d-change-churn", class: "story" }, c.churn_sentence));
}

function breakdownView(b) {
  const table = el("table", { id: "breakdown-table", class: "breakdown" });
  table.append(el("thead", {}, el("tr", {}, el("th", {}, T.measure), el("th", { class: "num" }, T.value),
    el("th", { class: "num" }, T.typicalCol), el("th", { class: "num" }, T.points))));
  const body = el("tbody");
  for (const c of b.components) {
    body.append(el("tr", { class: "component", "data-component": c.component },
      el("td", { colspan: 3 }, c.label), el("td", { class: "num" }, T.of(fmtPoints(c.points), fmtPoints(c.possible)))));
    for (const m of c.measures) {
      body.append(el("tr", { class: "measure", "data-points": m.points, "data-signal": m.signal },
        el("td", {}, m.label), el("td", { class: "num" }, m.value_text), el("td", { class: "num" }, m.typical_text),
        el("td", { class: "num" }, T.of(fmtPoints(m.points), fmtPoints(m.possible)))));
    }
  }
  table.append(body);
  const total = b.components.reduce((s, c) => s + c.points, 0);
  table.append(el("tfoot", {}, el("tr", {}, el("td", { colspan: 3 }, T.total),
    el("td", { class: "num", id: "breakdown-total" }, fmtPoints(Math.round(total * 10) / 10)))));
  return table;
}

function whatIfView(w) {
  const box = el("div", {}, el("p", { id: "d-whatif-sentence", class: "story" }, w.sentence));
  if (w.options.length) {
    box.append(el("p", { class: "hint" }, T.options));
    const list = el("ol", { class: "options" });
    for (const o of w.options) list.append(el("li", {}, `${o.text} `, el("span", { class: "gain" }, T.gain(fmtPoints(o.gain)))));
    box.append(list);
  } else if (w.next_band) {
    box.append(el("p", { class: "hint" }, T.noOptions));
  }
  return box;
}

// Flags as bars without numbers: the length says how much each one pushes the risk.
function flagChart(flags, typical) {
  const width = 720, mid = 360, half = 290, rowH = 46;
  const max = Math.max(...flags.map((f) => Math.abs(f.contribution)), 1e-9);
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${flags.length * rowH + 16}`);
  svg.setAttribute("role", "img");
  svgNode(svg, "line", { x1: mid, x2: mid, y1: 4, y2: flags.length * rowH + 12, stroke: "#9aa5b1" });
  flags.forEach((f, i) => {
    const y = 8 + i * rowH, w = Math.max(2, (Math.abs(f.contribution) / max) * half), up = f.contribution > 0;
    const t = typical[f.signal];
    svgNode(svg, "text", { x: 8, y: y + 12 }, t ? `${f.sentence} (${T.typical(t)})` : f.sentence);
    svgNode(svg, "rect", { x: up ? mid : mid - w, y: y + 18, width: w, height: 14, rx: 2, fill: up ? "#c62828" : "#2e7d32", class: "bar" });
  });
  return svg;
}

async function showAccount(id) {
  const path = `/v1/accounts/${encodeURIComponent(id)}`;
  const [a, hist, changes, parts, whatif] = await Promise.all([
    api(path), api(`${path}/history`), api(`${path}/changes`), api(`${path}/breakdown`), api(`${path}/what-if`),
  ]);
  $("d-title").textContent = a.name || a.account_id;
  $("d-sub").textContent = [a.name ? a.account_id : null, segmentName(a.segment), a.csm_owner || T.none].filter(Boolean).join(" · ");
  $("d-cards").replaceChildren(
    card(T.healthScore, missing(a.health_score) ? T.none : fmtPoints(a.health_score), bandChip(a, false)),
    card(T.churn, fmtPct(a.churn_probability)), card(T.arr, fmtMoney(a.arr)), card(T.atRisk, fmtMoney(a.arr_at_risk)),
    card(T.renewal, renewal(a)),
  );
  $("d-history").replaceChildren(historyChart(hist));
  $("d-changes").replaceChildren(changesView(changes));
  $("d-breakdown").replaceChildren(breakdownView(parts));
  $("d-whatif").replaceChildren(whatIfView(whatif));
  const flags = shown([...a.red_flags, ...a.green_flags]).sort((x, y) => y.contribution - x.contribution);
  $("d-chart").replaceChildren(flags.length ? flagChart(flags, parts.typical_text) : el("p", {}, T.noFlags));
  const actions = [...new Set(shown(a.red_flags).filter((f) => f.action).map((f) => f.action))];
  $("d-actions").replaceChildren(...(actions.length ? actions : [T.noActions]).map((t) => el("li", {}, t)));
  show("detail-view");
  document.body.dataset.detail = a.account_id;
}

function show(view) {
  for (const id of ["login", "list-view", "detail-view"]) $(id).hidden = id !== view;
}

function showPane(view) {
  state.view = view;
  $("risk-pane").hidden = view !== "risk";
  $("movers-pane").hidden = view !== "movers";
  $("view-risk").classList.toggle("current", view === "risk");
  $("view-movers").classList.toggle("current", view === "movers");
}

async function route() {
  try {
    const m = location.hash.match(/^#account=(.+)$/);
    if (m) return await showAccount(decodeURIComponent(m[1]));
    delete document.body.dataset.detail;
    if (!state.listLoaded) await loadList();
    if (state.view === "movers") await loadMovers();
    show("list-view");
  } catch (e) {
    if (e instanceof AuthError) {
      // No message on the first visit: asking for the key is expected then.
      $("key-error").textContent = sessionStorage.getItem("churn-key") ? e.message : "";
      sessionStorage.removeItem("churn-key");
      show("login");
    } else {
      $("status").textContent = e.message;
    }
  }
}

function reload() { state.listLoaded = false; route(); }

// Numbers and dates descend first (the biggest ARR on top); text ascends.
const DESCENDING_FIRST = new Set(["arr", "arr_at_risk", "churn_probability"]);

document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.lang = lang;
  document.title = T.title;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = T[node.dataset.i18n];
  $(`lang-${lang}`).classList.add("current");
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("churn-key", $("key").value.trim());
    $("key").value = "";
    $("key-error").textContent = "";
    reload();
  });
  for (const k of ["owner", "segment", "band"]) {
    $(k).addEventListener("change", () => { state[k] = $(k).value; state.page = 1; reload(); });
  }
  let typing;
  $("q").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.q = $("q").value.trim(); state.page = 1; reload(); }, 250);
  });
  $("filters").addEventListener("submit", (ev) => ev.preventDefault());
  for (const th of document.querySelectorAll("#risk-table th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const col = th.dataset.sort;
      const first = DESCENDING_FIRST.has(col) ? `-${col}` : col;
      const second = first.startsWith("-") ? col : `-${col}`;
      state.sort = state.sort === first ? second : first;
      state.page = 1;
      reload();
    });
  }
  $("view-risk").addEventListener("click", () => { showPane("risk"); });
  $("view-movers").addEventListener("click", () => { showPane("movers"); route(); });
  $("prev").addEventListener("click", () => { state.page -= 1; reload(); });
  $("next").addEventListener("click", () => { state.page += 1; reload(); });
  $("back").addEventListener("click", () => { history.pushState("", "", location.pathname + location.search); route(); });
  window.addEventListener("hashchange", route);
  route(); // a server run with --insecure-local needs no key; otherwise the 401 brings up the key form
});

// The CSM risk-list page: plain DOM code, no framework, no CDN. Data comes from /v1 with the
// API key the user typed (kept in this tab's sessionStorage); all text is set with textContent,
// so account names and flags can never inject markup.
"use strict";

const TEXT = {
  en: {
    title: "Accounts at risk", keyLabel: "API key", open: "Open", owner: "CSM owner", segment: "Segment",
    band: "Health band", all: "All", red: "Red", yellow: "Yellow", green: "Green", account: "Account",
    health: "Health", churn: "Churn", renewal: "Renewal", upsell: "Upsell", arr: "ARR", atRisk: "ARR at risk",
    flags: "Top red flags and what to do", prev: "Previous", next: "Next", back: "Back to the list",
    drivers: "What drives the churn risk", actions: "Suggested actions",
    driversHint: "Red bars raise the risk, green bars lower it (contribution to the churn log-odds).",
    meta: (d, v) => `Scores as of ${d} · model ${v}`, page: (p, n) => `Page ${p} of ${n}`,
    summary: (n, r) => `${n} accounts · ${r} ARR at risk`, loading: "The server is still loading the model; retrying…",
    wrongKey: "That key was not accepted.", noFlags: "No strong red flags.", noActions: "Nothing to act on.",
    onboarding: "onboarding", healthScore: "Health score", trend: "Trend", none: "–",
  },
  tr: {
    title: "Risk altındaki hesaplar", keyLabel: "API anahtarı", open: "Aç", owner: "CSM sorumlusu", segment: "Segment",
    band: "Sağlık bandı", all: "Tümü", red: "Kırmızı", yellow: "Sarı", green: "Yeşil", account: "Hesap",
    health: "Sağlık", churn: "Kayıp", renewal: "Yenileme", upsell: "Ek satış", arr: "ARR", atRisk: "Risk altındaki ARR",
    flags: "Başlıca kırmızı bayraklar ve yapılacaklar", prev: "Önceki", next: "Sonraki", back: "Listeye dön",
    drivers: "Kayıp riskini ne belirliyor", actions: "Önerilen aksiyonlar",
    driversHint: "Kırmızı çubuklar riski artırır, yeşil çubuklar azaltır (kayıp log-oranına katkı).",
    meta: (d, v) => `Skor tarihi ${d} · model ${v}`, page: (p, n) => `Sayfa ${p} / ${n}`,
    summary: (n, r) => `${n} hesap · risk altındaki ARR ${r}`, loading: "Sunucu modeli yüklüyor; yeniden deneniyor…",
    wrongKey: "Bu anahtar kabul edilmedi.", noFlags: "Güçlü kırmızı bayrak yok.", noActions: "Yapılacak bir şey yok.",
    onboarding: "başlangıç", healthScore: "Sağlık skoru", trend: "Eğilim", none: "–",
  },
};
const PAGE_SIZE = 50;
const lang = new URLSearchParams(location.search).get("lang") === "tr" ? "tr" : "en";
const T = TEXT[lang];
const locale = lang === "tr" ? "tr-TR" : "en-US";
const money = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
const state = { page: 1, owner: "", segment: "", band: "", listLoaded: false };
const $ = (id) => document.getElementById(id);

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

const fmtPct = (v) => (v === null || v === undefined ? T.none : percent.format(v));
const fmtMoney = (v) => (v === null || v === undefined ? T.none : money.format(v));

function bandChip(a) {
  const band = a.health_band || "none";
  const score = a.health_score === null ? T.none : a.health_score.toFixed(0);
  return el("span", { class: `band ${band}`, "data-band": band }, `${score} ${T[band] || ""}`.trim());
}

function trendArrow(t) {
  if (t === null || t === undefined) return el("span", { class: "trend flat" }, T.none);
  if (t > 0.5) return el("span", { class: "trend up", title: T.trend }, `▲ +${t.toFixed(1)}`);
  if (t < -0.5) return el("span", { class: "trend down", title: T.trend }, `▼ ${t.toFixed(1)}`);
  return el("span", { class: "trend flat", title: T.trend }, "→");
}

function flagList(flags, limit) {
  const box = el("div");
  for (const f of flags.slice(0, limit)) {
    const p = el("p", { class: "flag" }, f.sentence);
    if (f.action) p.append(el("br"), el("span", { class: "action" }, `→ ${f.action}`));
    box.append(p);
  }
  if (!flags.length) box.append(el("span", { class: "action" }, T.noFlags));
  return box;
}

function fillSelect(select, values, chosen) {
  while (select.options.length > 1) select.remove(1);
  for (const v of values) select.append(el("option", { value: v }, v));
  select.value = chosen;
}

async function loadList() {
  const q = new URLSearchParams({ page: state.page, page_size: PAGE_SIZE });
  for (const k of ["owner", "segment", "band"]) if (state[k]) q.set(k, state[k]);
  const data = await api(`/v1/risk-list?${q}`);
  $("meta").textContent = T.meta(data.as_of ? data.as_of.slice(0, 10) : T.none, data.model_version);
  fillSelect($("owner"), data.owners, state.owner);
  fillSelect($("segment"), data.segments, state.segment);
  $("summary").textContent = T.summary(data.total, fmtMoney(data.arr_at_risk_total));
  const rows = $("rows");
  rows.replaceChildren();
  data.items.forEach((a, i) => {
    const tr = el("tr", { "data-account": a.account_id, "data-band": a.health_band || "none" });
    const health = el("td", {}, bandChip(a), trendArrow(a.health_trend));
    tr.append(
      el("td", { class: "num" }, String((state.page - 1) * PAGE_SIZE + i + 1)),
      el("td", { class: "account" }, a.account_id), el("td", {}, a.segment || T.none), el("td", {}, a.csm_owner || T.none),
      health, el("td", { class: "num" }, fmtPct(a.churn_probability)), el("td", { class: "num" }, fmtPct(a.renewal_probability)),
      el("td", { class: "num" }, fmtPct(a.upsell_probability)), el("td", { class: "num" }, fmtMoney(a.arr)),
      el("td", { class: "num" }, fmtMoney(a.arr_at_risk)), el("td", {}, flagList(a.red_flags, 2)),
    );
    tr.addEventListener("click", () => { location.hash = `account=${encodeURIComponent(a.account_id)}`; });
    rows.append(tr);
  });
  const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
  $("page-info").textContent = T.page(state.page, pages);
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  state.listLoaded = true;
  document.body.dataset.list = "loaded";
}

function card(label, value, extra) {
  const box = el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  if (extra) box.append(extra);
  return box;
}

// Flag contributions as a small horizontal bar chart in inline SVG: red to the right, green to the left.
function chart(flags) {
  const NS = "http://www.w3.org/2000/svg";
  const width = 720, mid = 360, half = 290, rowH = 44;
  const max = Math.max(...flags.map((f) => Math.abs(f.contribution)), 1e-9);
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${flags.length * rowH + 16}`);
  svg.setAttribute("width", width);
  svg.setAttribute("role", "img");
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  add("line", { x1: mid, x2: mid, y1: 4, y2: flags.length * rowH + 12, stroke: "#9aa5b1" });
  flags.forEach((f, i) => {
    const y = 8 + i * rowH, w = Math.max(2, (Math.abs(f.contribution) / max) * half), up = f.contribution > 0;
    add("text", { x: 8, y: y + 12 }, f.sentence);
    add("rect", { x: up ? mid : mid - w, y: y + 18, width: w, height: 14, rx: 2, fill: up ? "#c62828" : "#2e7d32", class: "bar" });
    add("text", { x: up ? mid + w + 4 : mid - w - 4, y: y + 29, "text-anchor": up ? "start" : "end", class: "amount" },
      `${up ? "+" : ""}${f.contribution.toFixed(2)}`);
  });
  return svg;
}

async function showAccount(id) {
  const a = await api(`/v1/accounts/${encodeURIComponent(id)}`);
  $("d-title").textContent = `${a.account_id} · ${a.segment || T.none} · ${a.csm_owner || T.none}`;
  $("d-cards").replaceChildren(
    card(T.healthScore, a.health_score === null ? T.none : a.health_score.toFixed(0), bandChip(a)),
    card(T.trend, a.health_trend === null ? T.none : a.health_trend.toFixed(1), trendArrow(a.health_trend)),
    card(T.churn, fmtPct(a.churn_probability)), card(T.renewal, fmtPct(a.renewal_probability)),
    card(T.upsell, fmtPct(a.upsell_probability)), card(T.arr, fmtMoney(a.arr)), card(T.atRisk, fmtMoney(a.arr_at_risk)),
  );
  const flags = [...a.red_flags, ...a.green_flags].sort((x, y) => y.contribution - x.contribution);
  $("d-chart").replaceChildren(flags.length ? chart(flags) : el("p", {}, T.noFlags));
  const actions = [...new Set(a.red_flags.filter((f) => f.action).map((f) => f.action))];
  $("d-actions").replaceChildren(...(actions.length ? actions : [T.noActions]).map((t) => el("li", {}, t)));
  show("detail-view");
  document.body.dataset.detail = a.account_id;
}

function show(view) {
  for (const id of ["login", "list-view", "detail-view"]) $(id).hidden = id !== view;
}

async function route() {
  try {
    const m = location.hash.match(/^#account=(.+)$/);
    if (m) return await showAccount(decodeURIComponent(m[1]));
    delete document.body.dataset.detail;
    if (!state.listLoaded) await loadList();
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
  $("prev").addEventListener("click", () => { state.page -= 1; reload(); });
  $("next").addEventListener("click", () => { state.page += 1; reload(); });
  $("back").addEventListener("click", () => { history.pushState("", "", location.pathname + location.search); route(); });
  window.addEventListener("hashchange", route);
  route(); // a server run with --insecure-local needs no key; otherwise the 401 brings up the key form
});

// The usage page: reads and moves the plan through the JSON admin API (same origin, no libraries).
"use strict";
(function () {
  const API = location.pathname.replace(/\/+$/, "");  // "/_emulator"
  const POLL_MS = 1500;
  const JOURNAL_ROWS = 200;
  const $ = (id) => document.getElementById(id);
  const last = {};
  let selected = null;
  let timer = null;

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  function num(value) {
    const n = Number(value);
    return Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: 2 }) : esc(value);
  }
  // The chart's values: three significant digits fit a day's column ("0.72", "1.23K", "100K").
  const COMPACT = new Intl.NumberFormat("en-US", { notation: "compact", maximumSignificantDigits: 3 });
  function when(iso) { return iso ? esc(String(iso).replace("T", " ").replace("Z", "")) : "—"; }
  function bar(used, total, label) {
    const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
    return `<div class="bar${pct >= 90 ? " hot" : ""}" role="meter" aria-valuemin="0" aria-valuemax="${total}"` +
      ` aria-valuenow="${used}" aria-label="${esc(label)}"><span style="width:${pct.toFixed(1)}%"></span></div>`;
  }
  // Replace an element's HTML only when it changed: keeps focus, selection and scroll still.
  function put(id, html) {
    if (last[id] === html) return false;
    last[id] = html;
    const el = $(id);
    el.innerHTML = html;
    if (el.closest("table.stack")) labelCells(el);
    return true;
  }
  // Each cell of a table a phone shows stacked carries its column's name (see dashboard.css).
  function labelCells(tbody) {
    const names = [...tbody.closest("table").querySelectorAll("thead th")].map((th) => th.textContent);
    for (const tr of tbody.rows) {
      for (const td of tr.cells) if (td.colSpan === 1) td.dataset.label = names[td.cellIndex] || "";
    }
  }

  // Writes are JSON, always: the admin API refuses any other Content-Type (a guard against
  // cross-site form posts); the browser adds this page's Origin, which the API accepts.
  async function call(method, path, body) {
    const write = method !== "GET" && method !== "HEAD";
    const response = await fetch(API + path, {
      method,
      headers: write ? { "content-type": "application/json" } : {},
      body: write ? JSON.stringify(body || {}) : undefined,
      cache: "no-store",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || `${method} ${path}: HTTP ${response.status}`);
    return data;
  }

  function renderState(state) {
    const sub = state.subscription;
    $("scenario").textContent = state.scenario;
    $("clock").textContent = String(state.clock.now).replace("T", " ");
    $("clock-frozen").hidden = !state.clock.frozen;
    const tiers = Object.entries(sub.tiers).map(([t, n]) => `${n} × ${esc(t)}`).join(", ") || "none";
    const seats = sub.seats;
    put("subscription", [
      ["Tier mix", tiers],
      ["Seats", `${seats.total} total · ${seats.assigned} assigned · ${seats.unassigned} unassigned · ${seats.expired} expired`],
      ["Start", when(sub.start)],
      ["End", when(sub.end) + (sub.expired ? ' <strong class="st-expired">expired</strong>' : "")],
      ["Term", `${esc(sub.months)} month(s)`],
      ["Cycle start", when(sub.cycle_start)],
      ["Next reset", when(sub.next_reset)],
    ].map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join(""));
    // The member's organisation role, as the management API shows it (ORG_OWNER, ORG_ADMIN, ...).
    const roles = Object.fromEntries((state.members || []).map((m) => [m.name, m.role]));
    const role = (name) => roles[name] ? ` <span class="sub role">${esc(roles[name].replace("ORG_", "").toLowerCase())}</span>` : "";
    put("seats", state.seats.map((s) =>
      `<tr data-seat="${esc(s.id)}"><td>${s.member ? esc(s.member) + role(s.member) : '<span class="st-unassigned">unassigned</span>'}</td>` +
      `<td>${esc(s.tier)}</td><td><code>${esc(s.key_masked || "—")}</code></td>` +
      // The status comes from the plan (why a request with this key is refused, if it is).
      `<td class="status st-${esc(s.status)}">${esc(s.status)}${s.why ? `<span class="why">${esc(s.why)}</span>` : ""}</td>` +
      `<td>${bar(s.used, s.quota, `${s.member || s.id}: ${s.used} of ${s.quota} Credits used`)}</td>` +
      `<td class="num used">${num(s.used)}</td><td class="num left">${num(s.remaining)}</td></tr>`).join("") ||
      '<tr><td colspan="7" class="empty">no seats</td></tr>');
    $("packs-total").textContent = state.packs.length ? `${num(state.packs_remaining)} Credits left in live packs` : "";
    put("packs", state.packs.map((p) =>
      `<tr data-pack="${esc(p.id)}"><td>${esc(p.id)}${p.expired ? ' <span class="st-expired">expired</span>' : ""}</td>` +
      `<td class="num">${num(p.size)}</td><td class="num">${num(p.remaining)}</td>` +
      `<td>${when(p.purchased_at)}</td><td>${when(p.expires_at)}</td></tr>`).join("") ||
      '<tr><td colspan="5" class="empty">no packs bought</td></tr>');
    put("refused", (state.refused || []).map((r) =>
      `<tr><td>${when(r.time)}</td><td class="s${String(r.status)[0]}">${esc(r.status)}</td>` +
      `<td>${esc(r.error || "—")}</td><td class="model">${esc(r.model || "—")}</td>` +
      `<td>${esc(r.member || "—")}</td><td><code>${esc(r.path)}</code></td></tr>`).join("") ||
      '<tr><td colspan="6" class="empty">none refused</td></tr>');
  }

  function hbars(values) {
    const entries = Object.entries(values).sort((a, b) => b[1] - a[1]);
    if (!entries.length) return '<p class="empty">no usage in this window</p>';
    const top = Math.max(...entries.map((e) => e[1]), 0);
    return entries.map(([k, v]) => `<div class="row"><span class="label" title="${esc(k)}">${esc(k)}</span>` +
      `${bar(v, top, `${k}: ${v} Credits`)}<span class="num">${num(v)}</span></div>`).join("");
  }

  // One column a day with its value written above the bar (compact; exact in the name).
  function columns(days) {
    const top = Math.max(...days.map((d) => d.credits), 0);
    return '<div class="columns" role="list" aria-labelledby="by-day-h">' + days.map((d) => {
      const share = top > 0 ? d.credits / top : 0;
      const exact = `${d.date}: ${num(d.credits)} Credits`;
      return `<div class="day" role="listitem" title="${esc(exact)}" aria-label="${esc(exact)}">` +
        `<div class="plot"><span class="value${d.credits ? "" : " zero"}">${esc(COMPACT.format(d.credits))}</span>` +
        `<span class="col" style="--h:${share.toFixed(4)}"></span></div>` +
        `<span class="date">${esc(d.date.slice(5))}</span></div>`;
    }).join("") + "</div>";
  }

  function renderUsage(usage) {
    $("usage-total").textContent = `${num(usage.total)} Credits over ${usage.days} day(s)`;
    // Newest day in view: on a narrow screen the 30 days scroll, today at the right end.
    if (put("by-day", columns(usage.by_day))) $("by-day").scrollLeft = $("by-day").scrollWidth;
    put("by-model", hbars(usage.by_model));
    put("by-member", hbars(usage.by_member));
  }

  function renderJournal(entries) {
    $("journal-count").textContent = `${entries.length} shown`;
    put("journal", entries.map((e) =>
      `<tr tabindex="0" data-id="${esc(e.request_id)}"${e.request_id === selected ? ' class="selected"' : ""}>` +
      `<td>${when(e.time)}</td><td>${esc(e.plan || "—")}</td><td>${esc(e.protocol || "—")}</td>` +
      `<td>${esc(e.model || "—")}${e.stream ? " (stream)" : ""}</td><td><code>${esc(e.key || "—")}</code></td>` +
      `<td class="s${String(e.status)[0]}">${esc(e.status)}</td><td>${esc(e.error || "")}</td>` +
      `<td class="num">${esc(e.charged)}</td><td>${esc(e.rule || "")}</td></tr>`).join("") ||
      '<tr><td colspan="9" class="empty">no requests yet</td></tr>');
  }

  function pretty(text) {
    if (text == null) return "(not kept: a streamed answer, or no body)";
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text || "(empty)"; }
  }

  async function showDetails(id) {
    selected = id;
    for (const tr of document.querySelectorAll("#journal tr")) tr.classList.toggle("selected", tr.dataset.id === id);
    try {
      const entry = await call("GET", `/journal/${encodeURIComponent(id)}`);
      const { request_body: req, response_body: res, ...rest } = entry;
      $("details-title").textContent = `${rest.method} ${rest.path} → ${rest.status}`;
      $("details-entry").textContent = JSON.stringify(rest, null, 2);
      $("details-request").textContent = pretty(req);
      $("details-response").textContent = pretty(res);
      $("details").hidden = false;
    } catch (err) { say(err.message); }
  }

  function say(text) { $("message").textContent = text; }

  async function refresh() {
    const days = document.querySelector('input[name="days"]:checked').value;
    const status = $("status-filter").value;
    const query = `/journal?limit=${JOURNAL_ROWS}&bodies=0${status ? `&status=${status}` : ""}`;
    try {
      const [state, usage, journal] = await Promise.all([
        call("GET", "/state"), call("GET", `/usage?days=${days}`), call("GET", query)]);
      renderState(state);
      renderUsage(usage);
      renderJournal(journal.entries);
      $("live").textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      $("live").textContent = `not reachable: ${err.message}`;
    }
  }

  function schedule() {
    clearTimeout(timer);
    if ($("live-toggle").checked) timer = setTimeout(async () => { await refresh(); schedule(); }, POLL_MS);
  }

  async function act(label, method, path, body) {
    say(`${label}…`);
    try {
      await call(method, path, body);
      say(`${label}: done`);
    } catch (err) { say(`${label}: ${err.message}`); }
    await refresh();
  }

  async function loadScenarios() {
    try {
      const data = await call("GET", "/scenarios");
      $("scenario-select").innerHTML = Object.entries(data.scenarios).map(([name, description]) =>
        `<option value="${esc(name)}" title="${esc(description)}"${name === data.current ? " selected" : ""}>${esc(name)}</option>`).join("");
    } catch (err) { say(err.message); }
  }

  for (const id of ["advance-day", "advance-month"]) {
    const button = $(id);
    button.addEventListener("click", () => act(button.textContent, "POST", "/clock", { advance: button.dataset.advance }));
  }
  $("buy-pack").addEventListener("click", () => act("Buy a pack", "POST", "/packs"));
  $("reset").addEventListener("click", () => act("Reset", "POST", "/reset"));
  $("switch-scenario").addEventListener("click", () =>
    act(`Switch to ${$("scenario-select").value}`, "POST", "/scenario", { name: $("scenario-select").value }));
  $("status-filter").addEventListener("change", refresh);
  for (const radio of document.querySelectorAll('input[name="days"]')) radio.addEventListener("change", refresh);
  $("live-toggle").addEventListener("change", schedule);
  $("journal").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-id]");
    if (tr) showDetails(tr.dataset.id);
  });
  $("journal").addEventListener("keydown", (ev) => {
    const tr = ev.target.closest("tr[data-id]");
    if (tr && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); showDetails(tr.dataset.id); }
  });
  $("details-close").addEventListener("click", () => { $("details").hidden = true; selected = null; });

  loadScenarios();
  // "dashboard-ready": the first full draw, in ms since navigation (the tests time it).
  refresh().then(() => { performance.mark("dashboard-ready"); schedule(); });
})();

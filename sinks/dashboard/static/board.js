// cargowatch dashboard: the live alert queue (server-sent events), filters without
// reload, and the key figures. Plain DOM; data is only ever set as text, never as HTML.
"use strict";

(function () {
  const page = document.body.dataset.page;
  const MAX_ROWS = 200;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children || []) node.append(c);
    return node;
  }

  function alertHref(id) { return "/alerts/" + encodeURIComponent(id); }

  function rowNode(r) {
    const status = r.status === "OPEN" ? "open" : "decided";
    const tr = el("tr", { class: "alert-row row-" + status, "data-alert-id": r.alert_id });
    const rules = el("td", { class: "rules" });
    r.rules.forEach((x, i) => { if (i) rules.append(" "); rules.append(el("code", { text: x })); });
    tr.append(
      el("td", { class: "time", "data-ts": r.raised_at, text: r.raised_at.slice(11, 19) }),
      el("td", {}, [el("span", { class: "badge lane-" + r.lane, text: r.lane })]),
      el("td", {}, r.referral === "NONE" ? [] : [el("span", { class: "referral", text: r.referral })]),
      el("td", { class: "num", text: Math.round(r.score).toString() }),
      el("td", { class: "manifest" }, [el("a", { href: alertHref(r.alert_id), text: r.manifest_id }), " ", el("span", { class: "muted", text: "v" + r.version })]),
      el("td", { text: r.mode }),
      el("td", { class: "route", text: r.loading_port + " → " + r.discharge_port }),
      el("td", {}, [r.consignee_name, el("div", { class: "muted small", text: r.consignee_id || "" })]),
      rules,
      el("td", {}, [el("span", { class: "status status-" + r.status, text: r.status.replace("_", " ").toLowerCase() })]),
    );
    return tr;
  }

  function currentFilters() {
    const form = document.getElementById("filters");
    const out = {};
    if (!form) return out;
    for (const [k, v] of new FormData(form).entries()) if (v) out[k] = String(v).trim().toUpperCase();
    return out;
  }

  // Mirrors AlertFilter.matches in sinks/dashboard/board.py.
  function matches(r, f) {
    if (f.lane && r.lane !== f.lane) return false;
    if (f.referral && r.referral !== f.referral) return false;
    if (f.mode && r.mode !== f.mode) return false;
    if (f.rule && !r.rules.includes(f.rule)) return false;
    if (f.port && !(r.loading_port.startsWith(f.port) || r.discharge_port.startsWith(f.port))) return false;
    if (f.trader && ![r.consignee_id, r.filer_id].some((t) => (t || "").toUpperCase().startsWith(f.trader))) return false;
    if (f.status === "OPEN" && r.status !== "OPEN") return false;
    if (f.status === "DECIDED" && r.status === "OPEN") return false;
    return true;
  }

  function updateCount() {
    const body = document.getElementById("alert-rows");
    const n = body.children.length;
    document.getElementById("count").textContent = n + " shown";
    document.getElementById("empty").hidden = n > 0;
  }

  function pct(x) { return x === null || x === undefined ? "—" : (100 * x).toFixed(1) + "%"; }
  function fmt(n, digits) { return Number(n).toLocaleString("en-GB", { minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0 }); }

  function setFigure(key, value, note) {
    const card = document.querySelector('.figure[data-figure="' + key + '"]');
    if (!card) return;
    card.querySelector(".value").textContent = value;
    if (note !== undefined) card.querySelector(".note").textContent = note;
  }

  function renderFigures(f) {
    setFigure("throughput", fmt(f.throughput_per_s, 1));
    setFigure("screened", fmt(f.screened_last_hour));
    setFigure("open", fmt(f.open_alerts), fmt(f.alerts_last_hour) + " raised in the last hour");
    setFigure("lag", f.consumer_lag === null ? "—" : fmt(f.consumer_lag));
    setFigure("dlq", fmt(f.dlq_per_min, 1), "per minute; " + fmt(f.dlq_last_hour) + " last hour");
    const bars = document.querySelectorAll(".lane-rate");
    f.lanes.forEach((lane, i) => {
      const row = bars[i];
      if (!row) return;
      row.querySelector(".fill").style.width = Math.min(100, 100 * lane.rate).toFixed(1) + "%";
      row.querySelector(".num").textContent = pct(lane.rate);
      row.querySelector(".small").textContent = (lane.quota === null ? "no quota" : "quota " + pct(lane.quota)) + " · " + fmt(lane.count);
    });
  }

  async function reload() {
    const f = currentFilters();
    const params = new URLSearchParams(f);
    const resp = await fetch("/api/alerts?" + params.toString(), { headers: { Accept: "application/json" } });
    if (resp.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); return; }
    const data = await resp.json();
    const body = document.getElementById("alert-rows");
    body.replaceChildren(...data.alerts.map(rowNode));
    history.replaceState(null, "", params.toString() ? "/?" + params.toString() : "/");
    updateCount();
  }

  function connect() {
    const live = document.getElementById("live");
    const source = new EventSource("/api/stream");
    source.addEventListener("hello", (ev) => { live.textContent = "live"; live.classList.add("on"); renderFigures(JSON.parse(ev.data)); });
    source.addEventListener("figures", (ev) => renderFigures(JSON.parse(ev.data)));
    source.addEventListener("alert", (ev) => {
      const r = JSON.parse(ev.data);
      if (!matches(r, currentFilters())) return;
      const body = document.getElementById("alert-rows");
      if (body.querySelector('tr[data-alert-id="' + CSS.escape(r.alert_id) + '"]')) return;
      const node = rowNode(r);
      node.classList.add("fresh");
      body.prepend(node);
      while (body.children.length > MAX_ROWS) body.lastElementChild.remove();
      updateCount();
    });
    source.addEventListener("decision", (ev) => {
      const r = JSON.parse(ev.data);
      const body = document.getElementById("alert-rows");
      const old = body.querySelector('tr[data-alert-id="' + CSS.escape(r.alert_id) + '"]');
      if (!old) return;
      if (matches(r, currentFilters())) old.replaceWith(rowNode(r)); else old.remove();
      updateCount();
    });
    source.onerror = async () => {
      live.textContent = "reconnecting…";
      live.classList.remove("on");
      const me = await fetch("/api/me").catch(() => null);
      if (me && me.status === 401) { source.close(); location.href = "/login"; }
    };
  }

  if (page === "board") {
    const form = document.getElementById("filters");
    form.addEventListener("submit", (ev) => { ev.preventDefault(); reload(); });
    form.addEventListener("change", () => reload());
    document.getElementById("alert-rows").addEventListener("click", (ev) => {
      if (ev.target.closest("a")) return;
      const tr = ev.target.closest("tr[data-alert-id]");
      if (tr) location.href = alertHref(tr.dataset.alertId);
    });
    connect();
  }
})();

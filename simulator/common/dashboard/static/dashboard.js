// The bpsn dashboard: polls GET /_sim/dashboard once a second and redraws the tables in place
// (no page reload). The admin credential is asked for in a form and kept in this tab's
// sessionStorage only; every value from the server is written with textContent, never as HTML.
"use strict";

(() => {
  const body = document.body;
  const own = body.dataset.simulator;
  const authKind = body.dataset.auth; // "basic" (ServiceNow admin user) or "bearer" (BigPanda admin token)
  const KEY = "bpsn-dashboard-credential:" + own;
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);
  let timer = null;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function row(cells, attrs) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      tr.appendChild(cell instanceof Node ? wrap(cell) : el("td", cell));
    }
    for (const [name, value] of Object.entries(attrs || {})) tr.setAttribute(name, value);
    return tr;
  }

  function wrap(node) {
    if (node.tagName === "TD") return node;
    const td = document.createElement("td");
    td.appendChild(node);
    return td;
  }

  function table(headers, rows, emptyText) {
    const t = document.createElement("table");
    const head = document.createElement("tr");
    for (const h of headers) head.appendChild(el("th", h));
    t.createTHead().appendChild(head);
    const tb = t.createTBody();
    if (!rows.length) {
      const td = el("td", emptyText, "empty");
      td.colSpan = headers.length;
      tb.appendChild(row([td]));
    }
    for (const r of rows) tb.appendChild(r);
    return t;
  }

  function link(href, text) {
    // only this server's paths and http(s) URLs: never a javascript: link from data
    if (!/^(https?:\/\/|\/(?!\/))/.test(href || "")) return el("span", text);
    const a = el("a", text);
    a.href = href;
    a.rel = "noopener noreferrer";
    return a;
  }

  function simTime(seconds) {
    return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 23);
  }

  function credential() {
    return sessionStorage.getItem(KEY);
  }

  function base64(text) {
    let binary = "";
    for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
    return btoa(binary);
  }

  function errorText(data) { // ServiceNow's, BigPanda's and FastAPI's error bodies
    if (!data) return "";
    if (data.error) return [data.error.message, data.error.detail].filter(Boolean).join(": ");
    if (Array.isArray(data.errors)) return data.errors.join("; ");
    if (data.detail) return typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    return JSON.stringify(data);
  }

  async function call(method, path, payload) {
    const headers = { Authorization: credential() || "", Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, data };
  }

  function showSignIn(message) {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    $("board").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-help").textContent = authKind === "basic"
      ? "A ServiceNow user with the admin role (see BPSN_SN_ADMIN_PASSWORD)."
      : "The BigPanda simulator's admin token (BPSN_BP_ADMIN_TOKEN).";
    $("sign-in-error").textContent = message || "";
  }

  function showBoard() {
    $("sign-in").hidden = true;
    $("board").hidden = false;
    $("sign-out").hidden = false;
    if (timer === null) poll();
  }

  async function poll() {
    timer = null;
    try {
      const { status, data } = await call("GET", "/_sim/dashboard");
      if (status === 401 || status === 403) {
        sessionStorage.removeItem(KEY);
        showSignIn("Not accepted (" + status + "): " + errorText(data));
        return;
      }
      if (status === 200) {
        render(data);
        $("status").textContent = "live: updated " + new Date().toLocaleTimeString();
        $("status").className = "status";
      } else {
        $("status").textContent = "the summary answered " + status + ": " + errorText(data);
        $("status").className = "status error";
      }
    } catch (e) {
      $("status").textContent = "cannot reach the simulator: " + e;
      $("status").className = "status error";
    }
    timer = setTimeout(poll, POLL_MS);
  }

  function render(data) {
    $("clock").textContent = data.clock.iso;
    $("clock-frozen").textContent = data.clock.frozen ? "(frozen)" : "";
    $("scope-name").textContent = data.stack ? "stack (" + Object.keys(data.simulators).join(" + ") + ")" : own;
    renderQueue(data.queue);
    renderPairs(data.pairs, data.has_incidents, data.has_tickets);
    renderRates(data.simulators);
    renderCore(data.core);
    renderRequests(data.simulators);
    renderFaults(data.simulators);
  }

  function renderQueue(queue) {
    const box = $("queue");
    box.replaceChildren();
    if (!queue) {
      box.appendChild(el("span", "share queue: on the BigPanda side (not in this dashboard)", "empty"));
      return;
    }
    box.appendChild(el("span", "share queue:"));
    box.appendChild(el("span", "pending " + queue.pending, "queue-pending"));
    box.appendChild(el("span", "leased " + queue.leased, "queue-leased"));
    box.appendChild(el("span", "dead letters " + queue.dead_letters, queue.dead_letters ? "dead" : ""));
  }

  function renderPairs(pairs, hasIncidents, hasTickets) {
    const tbody = $("pairs").tBodies[0];
    const rows = pairs.map((p) => {
      const i = p.incident;
      const t = p.ticket;
      const attrs = {};
      if (i) attrs["data-incident"] = i.id;
      if (t) attrs["data-ticket"] = t.number || t.sys_id;
      const incidentCell = i ? i.id + (i.organization ? " (" + i.organization + ")" : "") : (hasIncidents ? "–" : "(BigPanda not in this dashboard)");
      const ticketCell = t ? link(t.link, t.number || t.sys_id) : el("span", hasTickets || !i ? "–" : "none yet", "empty");
      const ticketState = t ? (t.state === null ? "(recorded by callback)" : t.state) : "";
      return row([
        incidentCell, i ? i.status : "", i ? i.severity : "", i ? i.share : "",
        ticketCell, ticketState, (i && i.title) || (t && t.short_description) || "",
      ], attrs);
    });
    if (!rows.length) {
      const td = el("td", "no incidents or tickets yet", "empty");
      td.colSpan = 7;
      rows.push(row([td]));
    }
    tbody.replaceChildren(...rows);
  }

  function renderRates(simulators) {
    const box = $("rates");
    box.replaceChildren();
    for (const [name, sim] of Object.entries(simulators)) {
      const r = sim.rate;
      const p = el("p");
      p.setAttribute("data-rate", name);
      if (r.limit_per_second) {
        const meter = document.createElement("meter");
        meter.min = 0;
        meter.max = r.limit_per_second;
        meter.high = r.limit_per_second * 0.8;
        meter.value = Math.min(r.busiest_requests, r.limit_per_second);
        p.appendChild(el("b", name + ": "));
        p.appendChild(meter);
        p.appendChild(el("span", " " + r.busiest_requests + " of " + r.limit_per_second + "/s"
          + (r.busiest_caller ? " (busiest caller " + r.busiest_caller + ")" : "")
          + "; answered 429: " + sim.totals.rate_limited));
      } else {
        p.appendChild(el("b", name + ": "));
        p.appendChild(el("span", r.busiest_requests + " requests in the last second from the busiest caller"
          + (r.busiest_caller ? " (" + r.busiest_caller + ")" : "") + "; answered 429: " + sim.totals.rate_limited));
      }
      box.appendChild(p);
    }
  }

  function renderCore(core) {
    $("core-section").hidden = !core;
    if (!core) return;
    $("core").textContent = Object.entries(core).map(([k, v]) => k + " " + v).join(" · ");
  }

  function renderRequests(simulators) {
    const box = $("requests");
    box.replaceChildren();
    for (const [name, sim] of Object.entries(simulators)) {
      box.appendChild(el("h3", name + " (" + sim.totals.requests + " since reset)"));
      const rows = sim.requests.map((e) => row([
        simTime(e.time), e.method, e.path, el("td", e.status, "num s" + String(e.status)[0]),
        el("td", e.duration_ms.toFixed(1), "num"), e.user, e.notes.join(", "),
      ]));
      box.appendChild(table(["time", "method", "path", "status", "latency ms", "caller", "notes"], rows, "no requests yet"));
    }
  }

  function renderFaults(simulators) {
    const box = $("faults");
    box.replaceChildren();
    for (const [name, sim] of Object.entries(simulators)) {
      box.appendChild(el("h3", name));
      const rows = sim.faults.map((f) => row([
        f.id, f.method || "any", f.path || "any", f.table || "", f.probability,
        f.status === null ? "" : f.status, f.latency_ms, f.drop_connection ? "yes" : "",
        f.times === null ? "" : f.times, f.fired,
      ], { "data-fault": name + ":" + f.id }));
      box.appendChild(table(["id", "method", "path", "table", "probability", "status", "latency ms", "drop",
        "times", "fired"], rows, "no active rules"));
    }
  }

  function faultSpec(form) {
    const spec = {};
    for (const name of ["method", "path"]) {
      const value = form.elements[name].value.trim();
      if (value) spec[name] = value;
    }
    for (const name of ["status", "probability", "latency_ms", "times"]) {
      const value = form.elements[name].value.trim();
      if (value !== "") spec[name] = Number(value);
    }
    if (form.elements.drop_connection.checked) spec.drop_connection = true;
    return spec;
  }

  $("fault-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const out = $("fault-result");
    try {
      const { status, data } = await call("POST", "/_sim/faults", faultSpec(event.target));
      out.textContent = status === 201 ? "rule " + data.id + " added" : "refused (" + status + "): " + errorText(data);
      out.className = status === 201 ? "ok" : "error";
    } catch (e) {
      out.textContent = "cannot reach the simulator: " + e;
      out.className = "error";
    }
  });

  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = authKind === "basic"
      ? "Basic " + base64($("sign-in-user").value + ":" + $("sign-in-password").value)
      : "Bearer " + $("sign-in-token").value.trim();
    $("sign-in-password").value = "";
    $("sign-in-token").value = "";
    sessionStorage.setItem(KEY, value);
    showBoard();
  });

  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    showSignIn("");
  });

  if (credential()) showBoard(); else showSignIn("");
})();

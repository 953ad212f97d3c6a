// haechi operator console. Talks only to the same-origin operator API; the
// session cookie is HttpOnly, the CSRF token lives in memory (sessionStorage
// so a reload keeps it) and goes with every state-changing request.
"use strict";

const $ = (sel) => document.querySelector(sel);
const SCOPES = ["ekyc", "device", "login", "risk", "payment"];
let me = null;

function csrf() { return sessionStorage.getItem("haechi_csrf") || ""; }

async function call(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: { "Accept": "application/json" } };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf();
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const text = await res.text();
  const data = text ? JSON.parse(text) : {};
  if (!res.ok) throw new Error(data.title ? `${data.title} (${data.code})` : `HTTP ${res.status}`);
  return data;
}

function showError(err) {
  const el = $("#error");
  el.textContent = err ? String(err.message || err) : "";
  el.hidden = !err;
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text;
  tr.appendChild(td);
  return td;
}

function fill(tbody, rows, render) {
  tbody.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    render(tr, r);
    tbody.appendChild(tr);
  }
}

function actionButton(td, label, fn) {
  const b = document.createElement("button");
  b.textContent = label;
  b.addEventListener("click", () => fn().catch(showError));
  td.appendChild(b);
}

async function loadEvents() {
  const data = await call("GET", "/v1/operator/audit/events?after=0&limit=100");
  fill($("#events tbody"), data.events || [], (tr, e) => {
    for (const v of [e.seq, e.time, e.actor, e.action, e.target, e.result]) cell(tr, v);
  });
}

async function verify() {
  const r = await call("GET", "/v1/operator/audit/verify");
  const el = $("#verify-result");
  el.className = r.intact ? "ok" : "bad";
  el.textContent = r.intact
    ? `intact: ${r.checked} events verified · 무결성 확인`
    : `BROKEN at event ${r.first_broken_seq}: ${r.reason}`;
}

async function loadClients() {
  const data = await call("GET", "/v1/operator/clients");
  fill($("#clients tbody"), data.clients || [], (tr, c) => {
    cell(tr, c.id); cell(tr, c.name); cell(tr, (c.scopes || []).join(" "));
    cell(tr, c.revoked_at ? "revoked" : "active");
    const td = cell(tr, "");
    if (!c.revoked_at) actionButton(td, "Revoke", async () => {
      await call("POST", `/v1/operator/clients/${encodeURIComponent(c.id)}/revoke`, {});
      await loadClients();
    });
  });
}

async function loadOperators() {
  const data = await call("GET", "/v1/operator/operators");
  fill($("#operators tbody"), data.operators || [], (tr, o) => {
    cell(tr, o.id); cell(tr, o.username); cell(tr, (o.roles || []).join(" "));
    cell(tr, o.disabled ? "disabled" : "active");
    const td = cell(tr, "");
    if (!o.disabled && o.id !== me.id) actionButton(td, "Disable", async () => {
      await call("POST", `/v1/operator/operators/${encodeURIComponent(o.id)}/disable`, {});
      await loadOperators();
    });
  });
}

function showPanels() {
  for (const panel of document.querySelectorAll("[data-roles]")) {
    const allowed = panel.dataset.roles.split(" ");
    panel.hidden = !me.roles.some((r) => allowed.includes(r));
  }
}

async function enter() {
  me = await call("GET", "/v1/operator/me");
  $("#whoami").textContent = `${me.username} (${me.roles.join(", ")})`;
  $("#login-view").hidden = true;
  $("#home-view").hidden = false;
  showPanels();
  const loads = [];
  if (!$("#audit-panel").hidden) loads.push(loadEvents());
  if (!$("#clients-panel").hidden) loads.push(loadClients(), loadOperators());
  await Promise.all(loads);
}

function leave() {
  me = null;
  sessionStorage.removeItem("haechi_csrf");
  $("#whoami").textContent = "";
  // The next person at this screen must not find the last operator's
  // shown-once secret or data in the page, hidden or not.
  $("#client-secret").textContent = "";
  $("#client-secret").hidden = true;
  $("#verify-result").textContent = "";
  $("#client-form").reset();
  for (const tbody of document.querySelectorAll("#home-view tbody")) tbody.replaceChildren();
  $("#home-view").hidden = true;
  $("#login-view").hidden = false;
}

async function login(ev) {
  ev.preventDefault();
  showError(null);
  try {
    const r = await call("POST", "/v1/operator/sessions", {
      username: $("#username").value, password: $("#password").value, code: $("#code").value,
    });
    sessionStorage.setItem("haechi_csrf", r.csrf_token);
    $("#password").value = ""; $("#code").value = "";
    await enter();
  } catch (err) { showError(err); }
}

async function createClient(ev) {
  ev.preventDefault();
  const scopes = SCOPES.filter((s) => $(`#scope-${s}`).checked);
  const r = await call("POST", "/v1/operator/clients", { name: $("#client-name").value, scopes });
  const pre = $("#client-secret");
  pre.textContent = `client_id: ${r.client.id}\nclient_secret: ${r.client_secret}\n(shown once · 한 번만 표시됩니다)`;
  pre.hidden = false;
  await loadClients();
}

function scopeBoxes() {
  const fs = $("#client-scopes");
  for (const s of SCOPES) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.id = `scope-${s}`; box.value = s;
    label.append(box, " " + s);
    fs.appendChild(label);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  scopeBoxes();
  $("#login-form").addEventListener("submit", login);
  $("#logout-button").addEventListener("click", async () => {
    try { await call("DELETE", "/v1/operator/sessions/current"); } catch (_) { /* already gone */ }
    leave();
  });
  $("#verify-button").addEventListener("click", () => verify().catch(showError));
  $("#client-form").addEventListener("submit", (ev) => createClient(ev).catch(showError));
  enter().catch(() => leave());
});

// Demo Shop: the buyer's side of a demo-only merchant. "Buy" asks the
// shop's server for a fresh order and goes to the gateway's checkout page
// it names; the list below shows the webhooks the shop received. Every
// value is set as text, never parsed as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);

function showError(msg) {
  const el = $("#error");
  el.textContent = msg || "";
  el.hidden = !msg;
}

async function buy(ev) {
  const item = ev.currentTarget.dataset.item;
  showError("");
  for (const b of document.querySelectorAll("button.buy")) b.disabled = true;
  try {
    const res = await fetch("/demo-shop/orders", {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ item }),
    });
    const data = await res.json().catch(() => ({}));
    const next = data.checkout_url || "";
    // The shop's own server names the checkout page of this origin.
    if (!res.ok || !next.startsWith("/checkout?")) throw new Error(data.code || `HTTP ${res.status}`);
    location.assign(next);
  } catch (err) {
    showError(`The order failed · 주문 실패: ${err.message || err}`);
    for (const b of document.querySelectorAll("button.buy")) b.disabled = false;
  }
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function loadEvents() {
  try {
    const res = await fetch("/demo-shop/events", { credentials: "omit", cache: "no-store" });
    if (!res.ok) return;
    const { events } = await res.json();
    const rows = $("#event-rows");
    rows.replaceChildren();
    for (const e of events || []) {
      const tr = document.createElement("tr");
      tr.append(cell(e.type), cell(e.order_no), cell(e.status), cell(`${e.amount} KRW`),
        cell(new Date(e.received_at).toLocaleTimeString()));
      rows.append(tr);
    }
    $("#events").hidden = rows.children.length === 0;
    $("#no-events").hidden = rows.children.length !== 0;
  } catch (_) {
    // The list is a convenience: a failed refresh keeps the last one.
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("button.buy")) b.addEventListener("click", buy);
  $("#refresh").addEventListener("click", loadEvents);
  loadEvents();
  setInterval(loadEvents, 5000);
});

// haechi checkout page: the buyer's "PG program". It reads the payment
// information S the merchant put in the address, sends it unchanged as C
// with TID_C to the gateway, and only when the gateway verified it with the
// merchant (NORMAL) asks for the card. Everything shown is set as text,
// never parsed as HTML, because every value in the address is the buyer's
// (or an attacker's) to write.
"use strict";

const $ = (sel) => document.querySelector(sel);

const FIELDS = ["merchant_id", "order_no", "item_name", "amount", "quantity", "currency", "tid"];

// Why the gateway answered ABNORMAL, per payinfo.Reason.
const REASONS = {
  merchant: "The merchant does not match its order · 가맹점 정보가 주문과 다릅니다",
  order: "The order number does not match · 주문번호가 주문과 다릅니다",
  item: "The item does not match the merchant's order · 상품명이 주문과 다릅니다",
  amount: "The amount does not match the merchant's order · 결제금액이 가맹점 주문과 다릅니다",
  quantity: "The quantity does not match the merchant's order · 수량이 가맹점 주문과 다릅니다",
  currency: "The currency does not match the merchant's order · 통화가 가맹점 주문과 다릅니다",
  tid: "The order's tag (TID) does not verify · 거래 검증값(TID)이 맞지 않습니다",
  unknown_order: "The merchant does not know this order · 가맹점에 없는 주문입니다",
  merchant_unreachable: "The merchant could not confirm the order · 가맹점에서 주문을 확인하지 못했습니다",
};

let info = null; // S as the address gave it, strings only
// One key for this page's checkout: pressing Pay again after a lost answer
// replays the gateway's first answer instead of opening a second
// transaction.
let checkoutKey = "";
let tx = null; // {id, secret} of a NORMAL transaction until its card is sent

class Problem extends Error {
  constructor(status, p) {
    super(p.title ? `${p.title} (${p.code})` : `HTTP ${status}`);
    this.status = status;
    this.code = p.code || "";
  }
}

function randomKey() {
  const b = new Uint8Array(24);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function post(path, body, key) {
  const res = await fetch(path, {
    method: "POST",
    credentials: "omit", // the checkout needs no cookie; an operator's must not ride along
    cache: "no-store",
    headers: { "Content-Type": "application/json", "Accept": "application/json", "Idempotency-Key": key },
    body,
  });
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch (_) { data = {}; }
  if (!res.ok) throw new Problem(res.status, data);
  return data;
}

function showError(err) {
  const el = $("#error");
  el.textContent = err ? String(err.message || err) : "";
  el.hidden = !err;
}

function readInfo() {
  const q = new URLSearchParams(location.search);
  const s = {};
  const missing = [];
  for (const f of FIELDS) {
    s[f] = q.get(f) || "";
    if (!s[f]) missing.push(f);
  }
  return { s, missing };
}

// A number goes to the gateway exactly as the merchant wrote it. Parsing
// it here would repair what the gateway must see and refuse: "6.9e3"
// would become 6900 and "6900.5" would round. Anything that is not plain
// digits is sent as a string, which the gateway refuses with the field.
function numberJSON(raw) {
  return /^(0|[1-9][0-9]{0,18})$/.test(raw) ? raw : JSON.stringify(raw);
}

function checkoutBody(s) {
  const str = (k) => `${JSON.stringify(k)}:${JSON.stringify(s[k])}`;
  const num = (k) => `${JSON.stringify(k)}:${numberJSON(s[k])}`;
  return `{${[str("merchant_id"), str("order_no"), str("item_name"), num("amount"),
    num("quantity"), str("currency"), str("tid")].join(",")}}`;
}

// groupDigits writes 6900 as 6,900 without turning it into a float.
function groupDigits(raw) {
  const s = String(raw);
  return /^[0-9]+$/.test(s) ? s.replace(/\B(?=(\d{3})+(?!\d))/g, ",") : s;
}

function showInfo(s) {
  $("#merchant-id").textContent = s.merchant_id;
  $("#order-no").textContent = s.order_no;
  $("#item-name").textContent = s.item_name;
  $("#quantity").textContent = s.quantity;
  $("#amount").textContent = `${groupDigits(s.amount)} ${s.currency}`;
}

async function pay() {
  showError(null);
  $("#pay-button").disabled = true;
  try {
    const r = await post("/v1/checkout/transactions", checkoutBody(info), checkoutKey);
    showVerdict(r.transaction || {}, r.client_secret || "");
  } catch (err) {
    showError(err);
    // A lost answer or a server failure may be retried with the same key;
    // the gateway's refusal of these values would only repeat.
    $("#pay-button").disabled = err instanceof Problem && err.status < 500;
  }
}

function showVerdict(t, secret) {
  $("#pay-button").hidden = true;
  $("#verdict-view").hidden = false;
  $("#transaction-id").textContent = t.id || "";
  const code = $("#code");
  if (t.code === "NORMAL" && secret) {
    code.textContent = "NORMAL · 정상 거래";
    code.className = "ok";
    $("#reason").textContent = "The merchant confirmed this order. · 가맹점이 주문을 확인했습니다.";
    tx = { id: t.id, secret };
    $("#card-view").hidden = false;
    $("#pan").focus();
    return;
  }
  code.textContent = "ABNORMAL · 비정상 거래";
  code.className = "bad";
  const reason = t.reason || "unknown";
  $("#reason").textContent = `${REASONS[reason] || "The transaction failed verification · 거래 검증에 실패했습니다"} [${reason}]`;
  // No card data is asked for on a transaction the gateway refused: the
  // form leaves the page, so nothing can reveal it later.
  $("#card-view").remove();
}

function normExpiry(v) {
  const t = v.trim();
  return /^[0-9]{4}$/.test(t) ? `${t.slice(0, 2)}/${t.slice(2)}` : t;
}

async function authorize(ev) {
  ev.preventDefault(); // form-action 'none': a native submit would be blocked anyway
  if (!tx) return;
  showError(null);
  const body = JSON.stringify({
    client_secret: tx.secret,
    card: { pan: $("#pan").value.replace(/[\s-]/g, ""), expiry: normExpiry($("#expiry").value), cvv: $("#cvv").value.trim() },
  });
  // The card stays in the page no longer than it takes to send it.
  for (const id of ["#pan", "#expiry", "#cvv"]) $(id).value = "";
  $("#card-button").disabled = true;
  try {
    showResult(await post(`/v1/checkout/transactions/${encodeURIComponent(tx.id)}/authorize`, body, randomKey()));
  } catch (err) {
    showError(err);
    // A bad card or a network that did not answer may be tried again;
    // a transaction that is gone, done or refused may not.
    if (err instanceof Problem && [403, 404, 409].includes(err.status)) endCardEntry();
  } finally {
    $("#card-button").disabled = false;
  }
}

function endCardEntry() {
  tx = null;
  const view = $("#card-view");
  if (view) view.hidden = true;
}

function showResult(v) {
  endCardEntry();
  const approved = v.status === "approved" || v.status === "confirmed";
  const status = $("#result-status");
  status.textContent = approved
    ? "approved · 결제 승인"
    : `declined · 결제 거절 (${v.decline_reason || v.status})`;
  status.className = approved ? "ok" : "bad";
  $("#approval-code").textContent = v.approval_code || "-";
  $("#card-masked").textContent = v.card || "-";
  $("#paid-amount").textContent = `${groupDigits(v.amount)} ${v.currency || ""}`.trim();
  $("#result-view").hidden = false;
  if (approved) showReturn(v.id || "");
}

// showReturn offers the merchant's way back (return.js), if it gave a
// safe one: the merchant's server confirms the payment from there.
function showReturn(transactionID) {
  const raw = new URLSearchParams(location.search).get("return_url") || "";
  const href = returnHref(raw, location.origin, transactionID);
  if (!href) return;
  $("#return-link").setAttribute("href", href);
  $("#return-view").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  const { s, missing } = readInfo();
  showInfo(s);
  if (missing.length > 0) {
    showError(`The merchant's payment information is incomplete (${missing.join(", ")}) · 가맹점 결제 정보가 없습니다`);
    return;
  }
  info = s;
  checkoutKey = randomKey();
  $("#pay-button").disabled = false;
  $("#pay-button").addEventListener("click", pay);
  $("#card-form").addEventListener("submit", authorize);
});

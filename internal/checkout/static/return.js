// haechi checkout: the optional way back to the merchant. A merchant may
// add return_url to the checkout address; the page links back to it after
// an approved payment, adding transaction_id so that the merchant's server
// can confirm that payment. The address is anybody's to write, so only a
// path of this very origin is followed: never another site (an open
// redirect would lend the gateway's name to a phishing page), never a
// protocol-relative "//host", never javascript: or data:.
"use strict";

// safeReturnPath returns raw as a same-origin path with query ("/a?b"),
// or "" when raw is anything else. origin is location.origin.
function safeReturnPath(raw, origin) {
  if (typeof raw !== "string" || raw.length === 0 || raw.length > 1024) return "";
  // A path, and only a path: "//host" and "/\host" name another host to
  // a browser, and no control character or backslash belongs in one.
  if (raw[0] !== "/" || raw[1] === "/" || /[\\\u0000-\u001f\u007f\s]/.test(raw)) return "";
  let u;
  try { u = new URL(raw, origin); } catch (_) { return ""; }
  if (u.origin !== origin || (u.protocol !== "http:" && u.protocol !== "https:")) return "";
  return u.pathname + u.search;
}

// returnHref is the link back for a payment: the safe path with
// transaction_id set, or "" when there is none to follow.
function returnHref(raw, origin, transactionID) {
  const path = safeReturnPath(raw, origin);
  if (!path || !transactionID) return "";
  const u = new URL(path, origin);
  u.searchParams.set("transaction_id", transactionID);
  return u.pathname + u.search;
}

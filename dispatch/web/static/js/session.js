// The signed-in user: the login answer kept for this tab, the API with its bearer, and
// the "session expired" screen (the token's expiry, a 401, or a websocket refused for it).
import { apply, halves, lang, t } from "./i18n.js";

const KEY = "dispatch.session";

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

export function saveSession(login) {
  sessionStorage.setItem(KEY, JSON.stringify(login));
}

/** Drop the token (it lives only in this tab) and go back to the sign-in page. */
export function logout() {
  sessionStorage.removeItem(KEY);
  location.assign("/");
}

export function homeOf(role) {
  return { dispatcher: "/console", admin: "/console", hospital: "/ed", crew: "/crew" }[role]
    || "/";
}

/** The session for this page, or off to sign in; shows the expired screen on expiry. */
export function requireSession(roles) {
  const s = session();
  if (!s || !roles.includes(s.role)) {
    location.replace(`/?next=${encodeURIComponent(location.pathname)}`);
    throw new Error("not signed in");
  }
  const left = Date.parse(s.expires_at) - Date.now();
  if (left <= 0) showExpired();
  // setTimeout holds at most ~24.8 days; tokens live hours.
  else setTimeout(showExpired, Math.min(left, 2 ** 31 - 1));
  return s;
}

let expiredShown = false;

export function showExpired() {
  if (expiredShown) return;
  expiredShown = true;
  sessionStorage.removeItem(KEY);
  window.dispatchEvent(new Event("sessionexpired"));
  const screen = document.createElement("div");
  screen.className = "expired";
  screen.setAttribute("role", "alertdialog");
  screen.setAttribute("aria-modal", "true");
  screen.innerHTML = `<div class="expired-box">
      <h1 data-i18n="session_expired"></h1>
      <p data-i18n="session_expired_text"></p>
      <p class="expired-en" lang="en">Session expired</p>
      <a class="button primary" data-i18n="sign_in_again"></a></div>`;
  screen.querySelector("a").href = `/?next=${encodeURIComponent(location.pathname)}`;
  document.body.append(screen);
  apply(screen);
  screen.querySelector("a").focus();
}

export class ApiError extends Error {
  constructor(status, body) {
    // the service's sentence in the page's language, then the field and what is wrong
    const d = body?.detail?.[0];
    const detail = d ? `${d.field ? d.field + ": " : ""}${halves(d.reason)}` : "";
    super([body?.message, detail].filter(Boolean).join(" ") || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Call the API as the signed-in user; JSON in and out. */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const s = session();
  const init = { method,
    headers: { "Accept-Language": lang() === "zh" ? "zh-CN" : "en", ...headers } };
  if (s) init.headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (r.status === 401 && s) showExpired();
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** Header wiring every page shares: who is signed in, sign out. */
export function wireHeader(s) {
  const who = document.getElementById("who");
  if (who) {
    const binding = s.vehicle_id || s.hospital_id;
    who.textContent = binding ? `${s.name} · ${binding}` : s.name;
  }
  document.getElementById("logout")?.addEventListener("click", logout);
  void t;
}

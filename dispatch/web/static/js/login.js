import { apply, langSwitch, t } from "./i18n.js";
import { ApiError, api, homeOf, saveSession, session } from "./session.js";

langSwitch(document.getElementById("lang"));
apply();

const next = new URLSearchParams(location.search).get("next");
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function go(s) {
  // Only our own pages: never an open redirect.
  const target = next && ["/console", "/ed", "/crew"].includes(next) ? next : homeOf(s.role);
  location.assign(target);
}

const current = session();
if (current && Date.parse(current.expires_at) > Date.now() && !next) go(current);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.textContent = "";
  try {
    const login = await api("/v1/auth/login", { method: "POST", body: {
      name: form.name.value.trim(), password: form.password.value } });
    saveSession(login);
    go(login);
  } catch (e) {
    error.textContent = e instanceof ApiError && e.status === 401 ? t("bad_login")
      : `${t("login_failed")}: ${e.message}`;
  }
});

import { apply, langSwitch, t } from "./i18n.js";
import { ApiError, api, homeOf, saveSession, session } from "./session.js";

langSwitch(document.getElementById("lang"));
apply();

const next = new URLSearchParams(location.search).get("next");
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function go(s) {
  // The role's own page: a page asked for that the role may not open (a hospital user
  // sent to /console) would only bounce back here. Never an open redirect.
  location.assign(homeOf(s.role));
}

const current = session();
if (current && Date.parse(current.expires_at) > Date.now()) {
  if (!next || next === homeOf(current.role)) go(current);
  else error.textContent = `${t("wrong_page")} (${current.name})`;
}

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

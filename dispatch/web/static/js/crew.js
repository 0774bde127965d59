// The crew tablet: the current mission, the status steps in order, vitals and team
// requests. Every frame carries a msg_id and stays "pending" (kept in this browser) until
// the server acknowledges it; after a reconnect, or a reload, the pending ones are sent
// again (the server acknowledges a resend without doing it twice).
import { apply, code, halves, langSwitch, t } from "./i18n.js";
import { STATUS_COLOURS, acuityBadge, el, statusText } from "./levels.js";
import { Live, newMsgId } from "./live.js";
import { DispatchMap } from "./map.js";
import { requireSession, wireHeader } from "./session.js";
import { clock, runClock } from "./time.js";
import { TEAMS } from "./vocabulary.js";

const s = requireSession(["crew"]);
wireHeader(s);
langSwitch(document.getElementById("lang"));
apply();
runClock(document.getElementById("clock"));
const $ = (id) => document.getElementById(id);
$("vehicle").textContent = s.vehicle_id;

const STEPS = ["en_route", "on_scene", "transporting", "at_hospital", "available"];
const STORE = `dispatch.crew.pending.${s.vehicle_id}`;
const state = { mission: null, status: null, stamps: {}, done: [] };
// msg_id -> {frame, label, state: pending | acked | refused, reason}
const outbox = new Map(JSON.parse(localStorage.getItem(STORE) || "[]"));

const dmap = new DispatchMap($("crew-map"));
dmap.loadReference({ hospitalsOnly: true }).then(renderHospitals).catch(() => {});

// ------------------------------------------------------------------ outbox
function persist() {
  const keep = [...outbox.entries()].filter(([, m]) => m.state === "pending");
  localStorage.setItem(STORE, JSON.stringify(keep));
}

function send(frame, label) {
  frame.msg_id = newMsgId("crew");
  // status and findings carry the time they happened; requests have no `at`
  if (["status", "vitals", "position"].includes(frame.type)) frame.at = new Date().toISOString();
  outbox.set(frame.msg_id, { frame, label, state: "pending", sentAt: new Date().toISOString() });
  persist();
  live.send(frame); // down: it goes when the link is back
  renderOutbox();
}

function resendPending() {
  for (const m of outbox.values()) if (m.state === "pending") live.send(m.frame);
}

function renderOutbox() {
  const items = [...outbox.entries()].slice(-12).reverse();
  $("pending").replaceChildren(...items.map(([id, m]) => el("li",
    { dataset: { msgId: id, state: m.state } },
    `${clock(m.sentAt)} ${m.label} · ${t(m.state === "acked" ? "sent_ok" : m.state)}`
    + (m.reason ? ` · ${halves(m.reason)}` : ""))));
  $("pending-count").textContent = String([...outbox.values()]
    .filter((m) => m.state === "pending").length);
}

// ------------------------------------------------------------------ mission
// The times the steps were acknowledged at, kept in this browser for the mission: a
// reload or a snapshot after a reconnect shows them again.
const STAMPS = `dispatch.crew.stamps.${s.vehicle_id}`;

function setMission(mission, status) {
  const kept = JSON.parse(localStorage.getItem(STAMPS) || "{}");
  if (mission?.id !== state.mission?.id) pickedHospital = false; // a new mission's centre
  state.mission = mission;
  state.status = status;
  state.stamps = mission && kept.call_id === mission.id ? kept.stamps || {} : {};
  render();
}

function stamp(step, at) {
  state.stamps[step] = at;
  if (state.mission) {
    localStorage.setItem(STAMPS, JSON.stringify({ call_id: state.mission.id,
      stamps: state.stamps }));
  }
}

function render() {
  const m = state.mission;
  if (!m) {
    $("mission").replaceChildren(el("p", { className: "muted", textContent: t("no_mission") }));
    $("steps").replaceChildren();
    dmap.focus(null);
    return;
  }
  const loc = m.location || {};
  const hospital = dmap.hospitals?.get(m.destination_id);
  $("mission").replaceChildren(
    el("p", {}, acuityBadge(m.acuity), " ", el("b", { textContent: m.complaint || "—" }),
      m.pathway ? ` · ${code("pathway", m.pathway)}` : ""),
    el("p", {}, `${t("address")}: ${loc.lon != null ? `${loc.lon.toFixed(5)}, `
      + `${loc.lat.toFixed(5)}` : "—"} (${t("accuracy")} ${loc.radius_m != null
      ? Math.round(loc.radius_m) : "—"} m)`),
    el("p", { id: "destination" }, `${t("destination")}: ${hospital?.name || m.destination_id
      || t("none")}`),
    loc.lon != null ? el("a", { className: "button primary", style: "display:block;text-align:center;font-size:22px",
      href: `geo:${loc.lat},${loc.lon}`, textContent: t("navigate") }) : null);
  if (loc.lon != null) dmap.focus(loc.lon, loc.lat, loc.radius_m);
  renderSteps();
  renderHospitals();
}

function renderSteps() {
  const current = STEPS.indexOf(state.status);
  const waiting = new Set([...outbox.values()].filter((x) => x.state === "pending"
    && x.frame.type === "status").map((x) => x.frame.status));
  $("steps").replaceChildren(...STEPS.map((step, i) => {
    const done = i <= current;
    const next = i === current + 1;
    const button = el("button", { type: "button", dataset: { status: step },
      className: done ? "done" : next ? "next" : "",
      disabled: !next || waiting.size > 0,
      textContent: `${done ? "✓" : `${i + 1}.`} ${code("status", step)}`
        + (state.stamps[step] ? ` · ${clock(state.stamps[step])}` : "")
        + (waiting.has(step) ? ` · ${t("pending")}` : ""),
      onclick: () => {
        send({ type: "status", call_id: state.mission.id, status: step },
          code("status", step));
        renderSteps();
      } });
    button.style.background = STATUS_COLOURS[step];
    button.style.color = statusText(step); // dark on the light ones (on scene)
    return button;
  }));
}

// ------------------------------------------------------------------ frames
function onFrame(frame) {
  if (frame.type === "snapshot") {
    const [view] = frame.calls;
    if (view) setMission(view.mission, view.vehicle_status);
    else if (!state.mission) setMission(null, null);
    return;
  }
  if (frame.type === "ack" || frame.type === "error") {
    const m = outbox.get(frame.msg_id);
    if (!m) return;
    if (frame.type === "ack") {
      m.state = "acked";
      if (m.frame.type === "status") {
        state.status = m.frame.status;
        stamp(m.frame.status, m.frame.at);
        if (m.frame.status === "available") state.mission = null;
      }
    } else {
      m.state = "refused";
      m.reason = frame.reason;
    }
    persist();
    renderOutbox();
    render();
    return;
  }
  if (frame.type !== "event") return;
  if (frame.kind === "mission") setMission(frame.data.mission, "dispatched");
  else if (frame.kind === "mission_cancelled" && state.mission?.id === frame.call_id) {
    setMission(null, null);
  } else if (frame.kind === "destination_changed" && state.mission?.id === frame.call_id) {
    state.mission.destination_id = frame.data.hospital_id;
    render();
  }
}

$("vitals-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("vitals-error").textContent = "";
  if (!state.mission) { $("vitals-error").textContent = t("no_mission"); return; }
  const frame = { type: "vitals", call_id: state.mission.id };
  for (const input of event.target.querySelectorAll("input")) {
    if (input.value !== "") frame[input.name] = Number(input.value);
  }
  if (Object.keys(frame).length === 2) return;
  send(frame, `${t("latest_vitals")} ${["hr", "sbp", "spo2"].filter((k) => frame[k] != null)
    .map((k) => `${t(k)} ${frame[k]}`).join(" ")}`);
  event.target.reset();
});

function renderTeams() {
  $("team").replaceChildren(...TEAMS.map((x) => el("option", { value: x,
    textContent: code("team", x) })));
}
renderTeams();
$("request-team").addEventListener("click", () => {
  if (!state.mission) return;
  const team = $("team").value;
  send({ type: "activate_team", call_id: state.mission.id, team }, code("team", team));
});

// The crew may ask for another receiving centre: the service accepts it when the centre
// can meet the call's needs and is not diverting, else the refusal (zh + en) shows in the
// pending list like any refused frame.
// The picker shows the mission's centre until the crew picks another, and each centre's
// diversion, so a diverting one is not asked for blindly.
let pickedHospital = false;
$("hospital").addEventListener("change", () => { pickedHospital = true; });
function renderHospitals() {
  const chosen = pickedHospital ? $("hospital").value : state.mission?.destination_id;
  $("hospital").replaceChildren(...[...(dmap.hospitals?.values() || [])].map((h) =>
    el("option", { value: h.id, selected: h.id === chosen,
      textContent: (h.name || h.id) + (h.diversion?.length ? ` · ${t("diversion")}: `
        + h.diversion.map((c) => code("capability", c)).join(", ") : "") })));
}
$("request-destination").addEventListener("click", () => {
  if (!state.mission) return;
  const hospitalId = $("hospital").value;
  if (!hospitalId) return;
  const name = dmap.hospitals?.get(hospitalId)?.name || hospitalId;
  send({ type: "destination_request", call_id: state.mission.id, hospital_id: hospitalId },
    `${t("request_destination")}: ${name}`);
});

// GNSS positions at most once a second while on a mission. Not kept pending: a position
// is stale by the time a link comes back, and the next one replaces it.
let lastPositionMs = 0;
let heldPosition = null;
function reportPosition(pos) {
  const now = Date.now();
  if (!state.mission) return;
  if (now - lastPositionMs < 1000) {
    // the latest one goes when the second is up
    if (!heldPosition) setTimeout(() => { const p = heldPosition; heldPosition = null; reportPosition(p); },
      1000 - (now - lastPositionMs));
    heldPosition = pos;
    return;
  }
  lastPositionMs = now;
  const c = pos.coords;
  const frame = { type: "position", msg_id: newMsgId("pos"), call_id: state.mission.id,
    lon: c.longitude, lat: c.latitude, at: new Date(pos.timestamp || now).toISOString() };
  if (c.heading != null && !Number.isNaN(c.heading)) frame.heading = c.heading % 360;
  if (c.speed != null && !Number.isNaN(c.speed)) frame.speed_mps = Math.min(c.speed, 100);
  live.send(frame);
  dmap.vehicle(s.vehicle_id, c.longitude, c.latitude, STATUS_COLOURS[state.status] || "#999",
    s.vehicle_id);
}
function watchPosition() {
  // refused or unavailable: ask again later (a permission granted since, a fix regained)
  navigator.geolocation?.watchPosition(reportPosition, (error) => {
    if (error.code === error.PERMISSION_DENIED) setTimeout(watchPosition, 10000);
  }, { enableHighAccuracy: true, maximumAge: 1000 });
}
watchPosition();

const live = new Live("/v1/ws/crew", { onFrame, stateEl: $("link"), onOpen: resendPending });
window.crewLive = live; // a reconnect can be provoked from the browser tests
live.connect();
renderOutbox();
window.addEventListener("langchange", () => { live.relabel(); renderTeams(); render();
  renderOutbox(); });

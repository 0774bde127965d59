// The ED receiving board of one hospital (a wall screen): inbound patients with their ETA,
// level, pathway, ATMIST summary, vitals and ECG as they stream in; acknowledge, activate
// teams in one action, arrival, handover and diversion. Server-side scoped: the channel
// carries only this hospital's patients.
import { ageText, apply, code, halves, lang, langSwitch, reasonText, t } from "./i18n.js";
import { ACUITY_COLOURS, acuityBadge, el, statusBadge } from "./levels.js";
import { Live, newMsgId } from "./live.js";
import { api, requireSession, wireHeader } from "./session.js";
import { clock, countdown, runClock } from "./time.js";
import { CAPABILITIES, CENTRE_TEAMS, TEAMS } from "./vocabulary.js";

const s = requireSession(["hospital"]);
wireHeader(s);
langSwitch(document.getElementById("lang"));
apply();
runClock(document.getElementById("clock"));
const $ = (id) => document.getElementById(id);

const patients = new Map(); // call_id -> patient
const pending = new Map(); // msg_id -> {frame, label}
const seenAlerts = new Set(); // call ids already announced (a reconnect never chimes again)
const VITALS = [["hr", "/min"], ["sbp", ""], ["spo2", "%"], ["rr", "/min"], ["gcs", ""],
  ["temp_c", "°C"]];

let diverting = [];
function loadHospital() {
  api("/v1/hospitals").then(({ hospitals }) => {
    const h = hospitals.find((x) => x.id === s.hospital_id);
    $("hospital").textContent = h ? h.name : s.hospital_id;
    diverting = h?.diversion || [];
    renderDiversion();
  }).catch(() => { $("hospital").textContent = s.hospital_id; });
}
loadHospital();

// ------------------------------------------------------------------ model
function fromView(view) {
  const signs = Object.fromEntries((view.atmist?.signs || []).map((x) => [x.code, x]));
  return {
    id: view.call_id, acuity: view.acuity, pathway: view.pathway, complaint: view.complaint,
    reasons: view.reasons || [], atmist: view.atmist || {}, handover: view.handover || {},
    vitals: view.latest_vitals || null, previous: null, signs,
    ecg: (view.atmist?.findings || []).find((f) => /ecg|STEMI/i.test(f)) || null,
    ecgFrame: null, treatments: view.atmist?.treatments || [],
    // the ETA from the vehicle's last position, so a reloaded board counts down at once
    eta: view.eta?.expected_at || null, vehicle: view.eta?.vehicle_id || null,
    // every unacknowledged alert flashes (after a reload too) until acknowledged or touched;
    // only a new one chimes
    crewStatus: null, flash: view.handover?.phase === "alerted",
  };
}

function onFrame(frame) {
  if (frame.type === "snapshot") {
    patients.clear();
    for (const view of frame.calls) {
      patients.set(view.call_id, fromView(view));
      seenAlerts.add(view.call_id);
    }
    $("board-state").textContent = "";
    render();
    return;
  }
  if (frame.type === "ack") {
    if (pending.get(frame.msg_id)?.frame.type === "diversion") loadHospital();
    pending.delete(frame.msg_id);
    return;
  }
  if (frame.type === "error") {
    const p = pending.get(frame.msg_id);
    pending.delete(frame.msg_id);
    log(`${t("refused")}: ${p?.label || ""} ${halves(frame.reason)}`, true);
    return;
  }
  if (frame.type !== "event") return;
  const data = frame.data || {};
  const p = patients.get(frame.call_id);
  switch (frame.kind) {
    case "pre_alert": {
      const fresh = !seenAlerts.has(frame.call_id);
      seenAlerts.add(frame.call_id);
      patients.set(frame.call_id, fromView(data.patient));
      if (fresh) chime();
      break;
    }
    case "patient_removed":
      if (p) log(`${t("removed")}: ${p.complaint || frame.call_id.slice(0, 8)} · `
        + `${/cancel/.test(data.reason) ? t("called_off") : t("rerouted")}`);
      patients.delete(frame.call_id);
      break;
    case "vitals":
      // a set may measure only some signs: each keeps its latest value and the one before
      if (p) {
        for (const key of ["hr", "sbp", "dbp", "spo2", "rr", "gcs", "temp_c"]) {
          if (data[key] == null) continue;
          p.previous = { ...p.previous, [key]: p.vitals?.[key] };
          p.vitals = { ...p.vitals, [key]: data[key] };
        }
      }
      break;
    case "ecg":
      if (p) p.ecgFrame = data;
      break;
    case "medication": // a crew's treatment frame, published under its kind
    case "procedure":
      if (p) p.treatments = [...p.treatments, { at: data.at, kind: data.kind, name: data.name,
        dose: data.dose ? `${data.dose.value} ${data.dose.unit}` : null, route: data.route }];
      break;
    case "eta":
      if (p) { p.eta = data.expected_at; p.vehicle = data.vehicle_id; }
      break;
    case "crew_status":
      if (p) {
        p.crewStatus = data.status;
        p.vehicle = data.vehicle_id;
        // the service marks the patient arrived on this status (prealert.crew_status_changed)
        // and records no second at_destination event for the board to read it from
        if (data.status === "at_hospital" && ["alerted", "acknowledged"].includes(p.handover.phase)) {
          p.handover = { ...p.handover, phase: "arrived", arrived_at: data.at };
          p.flash = false;
        }
      }
      break;
    default:
      if (p && data.handover) {
        p.handover = data.handover;
        if (p.handover.phase !== "alerted") p.flash = false;
        if (p.handover.phase === "handed_over") patients.delete(frame.call_id);
      }
  }
  render();
}

// ------------------------------------------------------------------ actions
function send(frame, label) {
  frame.msg_id = newMsgId("ed");
  pending.set(frame.msg_id, { frame, label });
  live.send(frame); // if the link is down it goes on reconnect
}

function resendPending() {
  for (const { frame } of pending.values()) live.send(frame);
}

function activate(p, card) {
  const chosen = [...card.querySelectorAll(".teams input:checked")].map((i) => i.value);
  if (chosen.includes("ed") && p.handover.phase === "alerted") {
    send({ type: "ack", call_id: p.id }, t("acknowledge"));
  }
  for (const team of chosen.filter((x) => x !== "ed")) {
    send({ type: "activate_team", call_id: p.id, team }, code("team", team));
  }
  p.flash = false;
  render();
}

// ------------------------------------------------------------------ view
function etaSeconds(p) {
  return p.eta ? (Date.parse(p.eta) - Date.now()) / 1000 : null;
}

/** "到达倒计时 8:16 · 10:27" (minutes:seconds left, then the expected time of arrival):
 * never a bare "8:16" that a wall board's reader could take for a time of day. */
function etaText(p) {
  if (p.handover.phase === "arrived") return t("arrived");
  const eta = etaSeconds(p);
  if (eta == null) return `${t("eta_countdown")} —`;
  return `${t("eta_countdown")} ${countdown(eta)} · ${clock(p.eta).slice(0, 5)}`;
}

function vitalsLine(p) {
  const v = p.vitals || {};
  const prev = p.previous || {};
  return el("div", { className: "vitals", dataset: { role: "vitals" } },
    ...VITALS.map(([key, unit]) => {
      let value = v[key];
      let arrow = "";
      if (value == null && p.signs[key]) { value = p.signs[key].last; arrow = p.signs[key].trend || ""; }
      else if (value != null && prev[key] != null) {
        arrow = value > prev[key] ? "↑" : value < prev[key] ? "↓" : "→";
      }
      if (value == null) return null;
      const shown = key === "sbp" && v.dbp != null ? `${value}/${v.dbp}` : String(value);
      return el("span", { dataset: { vital: key } }, `${t(key)} `, el("b", { textContent: shown }),
        ` ${unit} ${arrow}`);
    }));
}

function ecgLine(p) {
  const e = p.ecgFrame;
  if (!e && !p.ecg) return null;
  if (!e) {
    // the ATMIST finding already names itself ("ECG: STEMI ...")
    const text = /^ECG/i.test(p.ecg) ? p.ecg.replace(/^ECG:?\s*/i, "") : p.ecg;
    return el("div", { dataset: { role: "ecg" } }, `${t("ecg")}: ${text}`);
  }
  return el("div", { dataset: { role: "ecg" } }, `${t("ecg")}: ${code("rhythm", e.rhythm)} `,
    e.stemi ? el("span", { className: "ecg-stemi", textContent: t("stemi") }) : null,
    e.st_elevation_leads?.length ? ` ST↑ ${e.st_elevation_leads.join(", ")}` : "",
    ` · ${clock(e.at)}`);
}

// The reasons that say why the patient is this sick, not how the call-taker's answers
// were read (a card's question, a phrase of the complaint, a cross-check).
function clinical(reasons) {
  return (reasons || []).filter((r) => !/^(CARD|KW|XCHECK)-/.test(r.rule_id));
}

function card(p) {
  const a = p.atmist;
  const phase = p.handover.phase;
  const activeTeams = new Set((p.handover.teams || []).map((x) => x.team));
  const suggested = new Set(CENTRE_TEAMS[p.pathway] || []);
  const node = el("article", { className: `card${p.flash ? " flash" : ""}`,
    dataset: { callId: p.id, phase }, tabIndex: 0 },
  el("div", { className: "top" },
    acuityBadge(p.acuity),
    el("span", { className: "complaint", textContent: p.complaint || "—" }),
    p.pathway ? el("span", { className: "badge", style: "background:#37474f;color:#fff",
      textContent: code("pathway", p.pathway) }) : null,
    el("span", { className: "eta", dataset: { role: "eta" }, textContent: etaText(p) }),
    p.vehicle ? el("span", { textContent: `${t("unit")} ${p.vehicle}` }) : null,
    p.crewStatus ? statusBadge(p.crewStatus) : null,
    el("span", { className: "badge", style: "background:#455a64;color:#fff",
      textContent: code("phase", phase) })),
  el("div", { className: "muted" },
    `${t("age")} ${ageText(a.age?.years) || "—"} · ${t("sex")} ${a.sex ? code("sex", a.sex) : "—"}`
    + (a.mechanism ? ` · ${t("mechanism")} ${a.mechanism}` : "")
    + (a.injuries?.length ? ` · ${t("injuries")} ${a.injuries.join("; ")}` : "")),
  vitalsLine(p),
  ecgLine(p),
  p.treatments.length ? el("div", { dataset: { role: "treatments" } },
    `${t("treatments")}: ${p.treatments.map((x) => [x.name, x.dose, x.route].filter(Boolean)
      .join(" ")).join("; ")}`) : null,
  el("div", { className: "muted", style: "font-size:18px" },
    clinical(p.reasons).slice(0, 2).map(reasonText).join(" · ")),
  el("div", { className: "actions" },
    el("fieldset", { className: "teams" }, el("legend", { textContent: t("teams") }),
      el("label", {}, el("input", { type: "checkbox", value: "ed",
        checked: phase === "alerted", disabled: phase !== "alerted" }),
      ` ${code("team", "ed")}`),
      ...TEAMS.map((team) => el("label", {}, el("input", { type: "checkbox", value: team,
        checked: activeTeams.has(team) || suggested.has(team), disabled: activeTeams.has(team) }),
      ` ${code("team", team)}${activeTeams.has(team) ? " ✓" : ""}`))),
    phase === "alerted" ? el("button", { className: "primary", dataset: { action: "ack" },
      textContent: t("acknowledge"),
      onclick: () => { send({ type: "ack", call_id: p.id }, t("acknowledge")); p.flash = false;
        render(); } }) : null,
    el("button", { className: "primary", dataset: { action: "activate" },
      textContent: t("activate_teams"), onclick: (e) => activate(p, e.target.closest(".card")) }),
    phase !== "arrived" ? el("button", { dataset: { action: "arrived" },
      textContent: t("declare_arrival"),
      onclick: () => send({ type: "arrived", call_id: p.id }, t("declare_arrival")) }) : null,
    phase === "arrived" ? el("button", { dataset: { action: "handover" },
      textContent: t("handover"),
      onclick: () => send({ type: "handover_complete", call_id: p.id }, t("handover")) })
      : null));
  node.style.borderLeftColor = ACUITY_COLOURS[p.acuity] || "#777";
  node.addEventListener("click", () => { if (p.flash) { p.flash = false; node.classList.remove("flash"); } });
  return node;
}

function render() {
  const list = [...patients.values()];
  const arrived = list.filter((p) => p.handover.phase === "arrived");
  const incoming = list.filter((p) => p.handover.phase !== "arrived").sort((a, b) =>
    (etaSeconds(a) ?? 1e9) - (etaSeconds(b) ?? 1e9) || (a.acuity ?? 9) - (b.acuity ?? 9));
  // keep the ticked boxes of a card while it is re-drawn
  const ticks = new Map([...document.querySelectorAll(".card")].map((c) => [c.dataset.callId,
    [...c.querySelectorAll(".teams input")].map((i) => i.checked)]));
  $("arrived").replaceChildren(...arrived.map(card));
  $("arrived").parentElement.classList.toggle("hidden", arrived.length === 0);
  $("incoming").replaceChildren(...(incoming.length ? incoming.map(card)
    : [el("p", { className: "muted", textContent: t("no_patients") })]));
  for (const c of document.querySelectorAll(".card")) {
    const kept = ticks.get(c.dataset.callId);
    if (kept) c.querySelectorAll(".teams input").forEach((i, n) => { if (!i.disabled) i.checked = kept[n]; });
  }
  $("count-inbound").textContent = String(incoming.length);
  $("count-arrived").textContent = String(arrived.length);
}

function tickEtas() {
  for (const node of document.querySelectorAll(".card")) {
    const p = patients.get(node.dataset.callId);
    if (p) node.querySelector("[data-role=eta]").textContent = etaText(p);
  }
}
setInterval(tickEtas, 1000);

function log(text, isError = false) {
  $("log").prepend(el("li", { className: isError ? "error" : "" }, `${clock(new Date())} ${text}`));
  while ($("log").children.length > 20) $("log").lastElementChild.remove();
}

// The chime. A browser lets a page sound only after someone has touched it; a wall board
// may never be touched, so until sound is allowed a button says so and allows it.
let audio = null;
function audioContext() {
  if (audio === null) {
    try {
      audio = new AudioContext();
      audio.addEventListener("statechange", soundState);
    } catch {
      audio = undefined; // no audio device: the flash is the signal
    }
  }
  return audio;
}

function soundState() {
  $("sound").classList.toggle("hidden", !audioContext() || audio.state === "running");
}
$("sound").addEventListener("click", () => audioContext()?.resume().then(soundState));
document.addEventListener("pointerdown", () => audioContext()?.resume().then(soundState));
soundState();

window.edChimes = 0; // how many chimes sounded (read by the browser tests)
function chime() {
  // A new pre-alert: two short tones.
  const a = audioContext();
  if (!a) return;
  window.edChimes += 1;
  for (const [start, freq] of [[0, 880], [0.25, 660]]) {
    const osc = a.createOscillator();
    osc.frequency.value = freq;
    osc.connect(a.destination);
    osc.start(a.currentTime + start);
    osc.stop(a.currentTime + start + 0.18);
  }
}

// A reminder every 2 minutes while an alert waits for acknowledgement (Pulsara practice).
setInterval(() => {
  if ([...patients.values()].some((p) => p.handover.phase === "alerted")) chime();
}, 120000);

// ------------------------------------------------------------------ diversion
function renderDiversion() {
  const chosen = $("div-capability").value || "ed";
  $("div-capability").replaceChildren(...CAPABILITIES.map((c) =>
    el("option", { value: c, textContent: code("capability", c), selected: c === chosen })));
  $("div-state").textContent = diverting.length
    ? `${t("diversion")}: ${diverting.map((c) => code("capability", c)).join(", ")}`
    : "";
}
$("div-on").addEventListener("click", () => {
  send({ type: "diversion", capability: $("div-capability").value, on: true }, t("diversion_on"));
});
$("div-off").addEventListener("click", () => {
  send({ type: "diversion", capability: $("div-capability").value, on: false },
    t("diversion_off"));
});

const live = new Live("/v1/ws/hospital", { onFrame, stateEl: $("link"), onOpen: resendPending });
window.edLive = live; // a reconnect can be provoked from the browser tests
$("board-state").textContent = t("loading");
live.connect();
window.addEventListener("langchange", () => { live.relabel(); render(); renderDiversion(); });
void lang;

// The dispatcher console: call taking driven by the triage protocol, the live queue,
// the selected call's location and recommended vehicles, the fleet, and alerts.
import { CardForm } from "./cards.js";
import { apply, code, halves, lang, langSwitch, reasonText, t } from "./i18n.js";
import { STATUS_COLOURS, acuityBadge, el, statusBadge } from "./levels.js";
import { Live } from "./live.js";
import { DispatchMap } from "./map.js";
import { api, requireSession, wireHeader } from "./session.js";
import { clock, runClock, since } from "./time.js";

const s = requireSession(["dispatcher", "admin"]);
wireHeader(s);
langSwitch(document.getElementById("lang"));
apply();
runClock(document.getElementById("clock"));

const state = { calls: [], fleet: new Map(), selected: null, fix: null,
  started: null, loadError: null };
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ map
const dmap = new DispatchMap($("map"), { onClick: setFix });
dmap.loadReference().catch((e) => alertLine(`${t("load_failed")}: ${e.message}`, true));

function setFix(point) {
  startCall();
  state.fix = { ...point, accuracy_m: Number($("accuracy").value) || 50,
    observed_at: new Date().toISOString() };
  $("fix-text").removeAttribute("data-i18n");
  $("fix-text").textContent = `${point.lon.toFixed(5)}, ${point.lat.toFixed(5)} (manual)`;
  dmap.focus(point.lon, point.lat, state.fix.accuracy_m, { pan: false });
}

// ------------------------------------------------------------------ call taking
const cards = new CardForm({ search: $("card-search"), list: $("card"),
  questions: $("questions"), onChange: previewTriage });

async function loadProtocol() {
  const protocol = await api("/v1/triage/protocol");
  $("protocol-version").textContent = `(${protocol.card_version} · ${protocol.version})`;
  cards.load(protocol);
}

function triageBody() {
  const body = { complaint: $("complaint").value.trim() };
  if (cards.card) Object.assign(body, { card: cards.card.id, card_answers: cards.read() });
  return body;
}

let previewTimer = null;
let previewSeq = 0;
function previewTriage() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(async () => {
    const seq = ++previewSeq;
    try {
      const result = await api("/v1/triage/evaluate", { method: "POST", body: triageBody() });
      if (seq === previewSeq) renderPreview(result);
    } catch (e) {
      if (seq === previewSeq) $("preview").replaceChildren(el("span", { className: "error",
        textContent: e.message }));
    }
  }, 250);
}
$("complaint").addEventListener("input", previewTriage);

function renderPreview(result) {
  const { asked, others } = cards.markMissing(result.missing);
  const given = cards.read();
  const reasons = result.reasons.map((r) => el("li", { dataset: { rule: r.rule_id } },
    el("b", { textContent: r.rule_id }), " ",
    cards.reasonText(r.rule_id, given) || reasonText(r)));
  const next = asked.length || others.length ? el("p", { id: "ask-next" },
    el("b", { textContent: `${t("ask_next")}: ` }),
    ...asked.map((q) => el("button", { type: "button", className: "chip",
      dataset: { question: q.id }, textContent: cards.text(q),
      onclick: () => cards.focusQuestion(q.id) })),
    ...others.map((text) => el("span", { className: "chip", textContent: text })))
    : el("p", { id: "ask-next", className: "muted", textContent: t("nothing_missing") });
  $("preview").replaceChildren(
    el("p", { className: "row" }, acuityBadge(result.acuity),
      el("span", { id: "preview-transport", dataset: { transport: result.transport_class },
        textContent: code("transport", result.transport_class) }),
      el("span", { id: "preview-pathway", textContent: `${t("pathway")}: `
        + (result.pathway ? code("pathway", result.pathway) : t("none")) })),
    next,
    el("details", { open: true }, el("summary", { textContent: t("determinants") }),
      el("ul", { className: "reasons", id: "preview-reasons" }, ...reasons)));
}

// With no telephone switch to say when the line rang and was answered, a call starts when
// the call-taker starts on it (the first entry in the form or on the map), not when the
// page was opened or the last call sent, nor when this one is sent. Its idempotency key
// is the call's: a submit repeated after a lost answer cannot take the call twice.
function startCall() {
  if (state.started) return;
  state.started = { at: new Date(), key: crypto.randomUUID() };
}
$("call-form").addEventListener("input", startCall);
$("call-form").addEventListener("change", startCall);

$("call-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("form-error").textContent = "";
  const caller = $("caller").value.trim();
  if (!/^\+?[0-9]{3,32}$/.test(caller)) {
    $("form-error").textContent = `${t("caller_number")}: ${t("caller_invalid")}`;
    $("caller").focus();
    return;
  }
  startCall();
  const startedAt = state.started.at.toISOString();
  const body = { caller_number: caller, ...triageBody(),
    received_at: startedAt, answered_at: startedAt, fixes: [] };
  if (state.fix) {
    body.fixes.push({ lon: state.fix.lon, lat: state.fix.lat,
      accuracy_m: Number($("accuracy").value) || state.fix.accuracy_m, source: "manual",
      observed_at: state.fix.observed_at });
  }
  try {
    const call = await api("/v1/calls", { method: "POST", body,
      headers: { "Idempotency-Key": state.started.key } });
    alertLine(`${t("call_taken")}: ${call.id.slice(0, 8)}`);
    clearTimeout(previewTimer);
    previewSeq += 1; // a preview still in flight is for the call just taken
    $("call-form").reset();
    cards.clear();
    state.fix = null;
    state.started = null;
    $("fix-text").dataset.i18n = "click_map";
    $("fix-text").textContent = t("click_map");
    $("preview").replaceChildren();
    await refreshQueue();
    select(call.id);
  } catch (e) {
    $("form-error").textContent = e.message;
  }
});

// ------------------------------------------------------------------ queue
async function refreshQueue() {
  try {
    const { calls } = await api("/v1/calls");
    state.calls = calls;
    state.loadError = null;
  } catch (e) {
    state.loadError = e.message; // never shown as an empty queue
  }
  renderQueue();
}

function renderQueue() {
  const calls = [...state.calls].sort((a, b) => (a.acuity ?? 9) - (b.acuity ?? 9)
    || Date.parse(a.received_at) - Date.parse(b.received_at));
  const rows = calls.map((c) => {
    const row = el("tr", { tabIndex: 0, dataset: { callId: c.id, acuity: c.acuity },
      className: c.id === state.selected ? "selected" : "",
      onclick: () => select(c.id),
      onkeydown: (e) => queueKeys(e, c.id) },
    el("td", {}, acuityBadge(c.acuity)),
    el("td", { textContent: c.complaint || "—" }),
    el("td", { textContent: c.pathway ? code("pathway", c.pathway) : "—" }),
    el("td", {}, el("span", { textContent: code("status", c.status) })),
    el("td", { textContent: clock(c.received_at) }),
    el("td", { textContent: since(c.received_at) }));
    return row;
  });
  $("queue").replaceChildren(...rows);
  $("queue-state").textContent = state.loadError ? `${t("load_failed")}: ${state.loadError}`
    : calls.length ? `${t("last_update")} ${clock(new Date())}` : t("no_calls");
  $("queue-state").className = state.loadError ? "error" : "muted";
  $("count-calls").textContent = state.loadError ? "?" : String(calls.length);
  const byLevel = [1, 2, 3, 4].map((l) => [l, calls.filter((c) => c.acuity === l).length])
    .filter(([, n]) => n);
  $("count-levels").replaceChildren(...byLevel.map(([l, n]) =>
    el("span", {}, acuityBadge(l), ` ${n}`)));
}

function queueKeys(event, callId) {
  const row = event.currentTarget;
  if (event.key === "ArrowDown") row.nextElementSibling?.focus();
  else if (event.key === "ArrowUp") row.previousElementSibling?.focus();
  else if (event.key === "Enter") select(callId);
  else return;
  event.preventDefault();
}

// ------------------------------------------------------------------ selected call
async function select(callId) {
  state.selected = callId;
  renderQueue();
  await renderDetail();
}

async function renderDetail() {
  const id = state.selected;
  const panel = $("detail");
  if (!id) { panel.classList.add("hidden"); return; }
  panel.classList.remove("hidden");
  let call;
  let recs = [];
  try {
    call = await api(`/v1/calls/${id}`);
    if (["queued", "assigned", "active"].includes(call.status)) {
      recs = (await api(`/v1/calls/${id}/recommendations`)).vehicles;
    }
  } catch (e) {
    $("detail-body").replaceChildren(el("p", { className: "error",
      textContent: `${t("load_failed")}: ${e.message}` }));
    return;
  }
  if (state.selected !== id) return;
  const loc = call.location;
  if (loc?.lon != null) dmap.focus(loc.lon, loc.lat, loc.radius_m);
  const live = ["queued", "assigned", "active"].includes(call.status);
  const hospital = dmap.hospitals?.get(call.destination_id);
  const body = [
    el("p", {}, acuityBadge(call.acuity), " ", el("b", { textContent: call.complaint || "—" }),
      call.pathway ? ` · ${code("pathway", call.pathway)}` : "", " · ",
      el("span", { id: "detail-status", textContent: code("status", call.status) })),
    el("p", { className: "muted" },
      `${t("location")}: ${loc?.lon != null ? `${loc.lon.toFixed(5)}, ${loc.lat.toFixed(5)}`
        : t("none")} · ${t("accuracy")} ${loc?.radius_m != null ? Math.round(loc.radius_m)
        + " m" : "—"} (${loc?.method || "—"}) · ${t("destination")}: ${hospital?.name
        || call.destination_id || t("none")}`),
    el("ul", { className: "reasons", id: "call-reasons" },
      ...(call.triage?.reasons || []).map((r) => el("li", { dataset: { rule: r.rule_id },
        textContent: cards.reasonText(r.rule_id, call.triage.card_answers)
          || reasonText(r) }))),
  ];
  if (call.assignments?.length) {
    body.push(el("h3", { textContent: t("assigned") }), el("ul", { id: "assigned" },
      ...call.assignments.map((a) => el("li", { dataset: { vehicleId: a.vehicle_id } },
        el("b", { textContent: a.vehicle_id }), ` ${a.call_sign || ""} `,
        statusBadge(a.status), a.eta_s != null ? ` ${t("eta")} ${Math.round(a.eta_s / 60)}`
        + ` ${t("min")}` : ""))));
  }
  if (live && recs.length) {
    const queued = call.status === "queued";
    body.push(el("h3", { textContent: t("recommended") }), el("ol", { id: "recommendations" },
      ...recs.map((r, i) => el("li", { dataset: { vehicleId: r.vehicle_id } },
        el("b", { textContent: r.vehicle_id }), ` ${code("kind", r.kind)} · ${t("eta")} `
        + `${Math.round(r.eta_s / 60)} ${t("min")} · ${(r.distance_m / 1000).toFixed(1)} km `,
        queued && i === 0 ? el("button", { className: "primary", textContent: t("confirm"),
          dataset: { action: "confirm" }, onclick: () => dispatchCall(id, {}) }) : null,
        queued && i > 0 ? el("button", { textContent: t("override"),
          dataset: { action: "override" },
          onclick: () => dispatchCall(id, { vehicle_id: r.vehicle_id }) }) : null,
        !queued ? el("button", { textContent: t("add_vehicle"), dataset: { action: "add" },
          onclick: () => dispatchCall(id, { vehicle_id: r.vehicle_id, additional: true }) })
          : null,
        !queued && call.status === "assigned" ? el("button", { textContent: t("override"),
          dataset: { action: "override" },
          onclick: () => dispatchCall(id, { vehicle_id: r.vehicle_id }) }) : null,
        el("ul", { className: "reasons" }, ...(r.why || []).map((x) => el("li", {
          dataset: { code: x.code ?? "" },
          textContent: x.text[lang() === "zh" ? "zh-CN" : "en"] })))
      ))));
  }
  if (live) {
    const reason = el("input", { id: "cancel-reason", maxLength: 500 });
    body.push(el("div", { className: "row" },
      el("label", {}, el("span", { textContent: t("cancel_reason") }), " ", reason),
      el("button", { className: "danger", textContent: t("cancel_call"),
        dataset: { action: "cancel" }, onclick: async () => {
          try {
            await api(`/v1/calls/${id}/cancel`, { method: "POST",
              body: { reason: reason.value.trim() || t("cancel_call") } });
            await refreshAll();
          } catch (e) { alertLine(e.message, true); }
        } })));
  }
  $("detail-body").replaceChildren(...body);
}

async function dispatchCall(id, body) {
  try {
    await api(`/v1/calls/${id}/dispatch`, { method: "POST", body });
    await refreshAll();
  } catch (e) {
    alertLine(e.message, true);
  }
}

// ------------------------------------------------------------------ fleet
async function refreshFleet() {
  try {
    const { vehicles } = await api("/v1/vehicles");
    for (const v of vehicles) {
      // a position from the live stream may be newer than the one the database answered
      const known = state.fleet.get(v.id);
      if (known?.position_at && (!v.position_at
          || Date.parse(known.position_at) > Date.parse(v.position_at))) {
        Object.assign(v, { lon: known.lon, lat: known.lat, position_at: known.position_at });
      }
      state.fleet.set(v.id, v);
    }
  } catch (e) {
    alertLine(`${t("load_failed")}: ${e.message}`, true);
  }
  renderFleet();
}

function renderFleet() {
  const groups = new Map();
  for (const v of state.fleet.values()) {
    if (!groups.has(v.status)) groups.set(v.status, []);
    groups.get(v.status).push(v);
    dmap.vehicle(v.id, v.lon, v.lat, STATUS_COLOURS[v.status] || "#999",
      `${v.id} ${v.call_sign || ""} · ${code("status", v.status)}`);
  }
  const order = Object.keys(STATUS_COLOURS);
  const sections = [...groups.entries()].sort((a, b) => order.indexOf(a[0])
    - order.indexOf(b[0])).map(([status, list]) => el("details",
    { open: status !== "available", dataset: { status } },
    el("summary", {}, statusBadge(status), ` ${list.length}`),
    el("ul", {}, ...list.map((v) => el("li", { dataset: { vehicleId: v.id } },
      `${v.id} ${v.call_sign || ""} · ${code("kind", v.kind)}`
      + (v.call_id ? ` · ${v.call_id.slice(0, 8)}` : ""))))));
  $("fleet").replaceChildren(...sections);
  $("count-available").textContent = String(groups.get("available")?.length ?? 0);
}

// ------------------------------------------------------------------ coverage
// Computed when asked for (it ranks every available vehicle against every demand cell,
// seconds of the service's CPU in a city), never on its own or on every event.
async function refreshCoverage() {
  const showLayer = $("coverage-on").checked;
  try {
    const [layer, plan] = await Promise.all([
      showLayer ? api("/v1/coverage?format=geojson&target_s=480") : null,
      api("/v1/coverage/moves?target_s=480")]);
    dmap.coverage(layer);
    $("coverage-share").textContent = `${t("coverage_share")}: `
      + `${Math.round(plan.coverage_share * 100)}%`;
    $("moves").replaceChildren(...(plan.moves.length ? plan.moves.map((m) => el("li",
      { dataset: { vehicleId: m.vehicle_id } },
      `${m.vehicle_id}: ${m.from_station_id || "—"} → ${m.to_station_id} `
      + `(${Math.round(m.coverage_before * 100)}% → ${Math.round(m.coverage_after * 100)}%) `,
      el("small", { className: "muted",
        textContent: m.why?.text?.[lang() === "zh" ? "zh-CN" : "en"] || "" }),
      el("button", { textContent: t("accept"), dataset: { action: "accept-move" },
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            await api("/v1/coverage/moves/accept", { method: "POST",
              body: { vehicle_id: m.vehicle_id, to_station_id: m.to_station_id } });
            e.target.replaceWith(t("accepted"));
          } catch (err) { alertLine(err.message, true); e.target.disabled = false; }
        } })))
      : [el("li", { className: "muted", textContent: t("no_moves") })]));
  } catch (e) {
    $("coverage-share").textContent = `${t("load_failed")}: ${e.message}`;
  }
}
$("coverage-on").addEventListener("change", refreshCoverage);
$("coverage-refresh").addEventListener("click", refreshCoverage);

// ------------------------------------------------------------------ live
// Every kind the console channel carries: what it is called, and whether it asks the
// dispatcher to act (shown as an alert, marked by a word and not by colour alone).
const EVENT_LABELS = {
  call_created: ["新警情", "New call"], vehicle_assigned: ["已派车", "Vehicle assigned"],
  call_cancelled: ["警情已取消", "Call cancelled"], unassigned: ["车辆已撤回", "Vehicle released"],
  call_retriaged: ["重新分级", "Re-triaged"],
  centre_alerted: ["医院已预警", "Hospital pre-alerted"],
  centre_acknowledged: ["医院已确认", "Hospital acknowledged"],
  team_activated: ["团队已启动", "Team activated"],
  destination_changed: ["目的医院变更", "Destination changed"],
  at_destination: ["已到达医院", "Arrived at hospital"], handover: ["已交接", "Handed over"],
  vehicle_status: ["车辆状态", "Vehicle status"], diversion: ["医院分流", "Hospital diversion"],
  hospital_capacity: ["医院床位更新", "Hospital capacity"], move_up: ["车辆前移", "Move-up"],
  out_of_area: ["辖区外警情", "Call outside the districts"],
  destination_suggested: ["建议改送医院", "Another destination suggested"],
  destination_request: ["车组申请改送医院", "Crew asks for another destination"],
  activate_team: ["车组请求启动团队", "Crew asks for a team"],
  ecg: ["心电图", "ECG"], stroke: ["卒中评估", "Stroke assessment"],
  injuries: ["伤情", "Injuries"], treatment: ["处置", "Treatment"],
  medication: ["用药", "Medication"], procedure: ["操作", "Procedure"],
};
const NEEDS_ACTION = new Set(["out_of_area", "destination_suggested", "destination_request",
  "activate_team"]);

function alertLine(text, isError = false, { urgent = false, kind = "" } = {}) {
  const li = el("li", { className: isError ? "error" : urgent ? "urgent" : "",
    dataset: { kind } },
  el("span", { className: "muted", textContent: `${clock(new Date())} ` }),
  urgent ? el("b", { textContent: `${t("needs_action")}: ` }) : null, text);
  $("alerts").prepend(li);
  while ($("alerts").children.length > 100) $("alerts").lastElementChild.remove();
}

/** What an event says beyond its name, in the page's language. */
function eventDetail(kind, data) {
  const hospital = (id) => dmap.hospitals?.get(id)?.name || id;
  switch (kind) {
    case "vehicle_status": return `${data.vehicle_id} → ${code("status", data.status)}`;
    case "call_retriaged": return code("acuity", data.acuity);
    case "diversion":
      return `${hospital(data.hospital_id)} · ${code("capability", data.capability)} · `
        + (data.on ? t("diversion_on") : t("diversion_off"));
    case "move_up": return `${data.vehicle_id}: ${data.from_station_id || "—"} → ${data.to_station_id}`;
    case "out_of_area": return halves(data.reason);
    case "destination_suggested": return `${hospital(data.current)} → ${hospital(data.hospital_id)}`;
    case "destination_request":
      return `${data.vehicle_id || ""} → ${hospital(data.hospital_id)}`
        + (data.reason ? ` (${data.reason})` : "");
    case "activate_team": case "team_activated":
      return [data.vehicle_id, code("team", data.team), data.hospital_id
        && hospital(data.hospital_id)].filter(Boolean).join(" · ");
    case "destination_changed": case "centre_alerted": case "centre_acknowledged":
    case "hospital_capacity":
      return data.hospital_id ? hospital(data.hospital_id) : "";
    default: return data.vehicle_id || data.hospital_id || "";
  }
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshAll, 200);
}

async function refreshAll() {
  await Promise.all([refreshQueue(), refreshFleet()]);
  if (state.selected) await renderDetail();
}

function onFrame(frame) {
  if (frame.type === "snapshot") {
    const [view] = frame.calls;
    if (view) {
      state.calls = view.queue;
      renderQueue();
    }
    refreshFleet();
    return;
  }
  if (frame.type !== "event") return;
  if (frame.kind === "positions") {
    for (const p of frame.data.vehicles) {
      const v = state.fleet.get(p.vehicle_id);
      if (v) Object.assign(v, { lon: p.lon, lat: p.lat, position_at: p.at });
      dmap.vehicle(p.vehicle_id, p.lon, p.lat, STATUS_COLOURS[v?.status] || "#999",
        `${p.vehicle_id} · ${code("status", v?.status)}`);
    }
    return;
  }
  const label = EVENT_LABELS[frame.kind]?.[lang() === "zh" ? 0 : 1] || frame.kind;
  const detail = eventDetail(frame.kind, frame.data || {});
  alertLine(`${label}${frame.call_id ? ` · ${frame.call_id.slice(0, 8)}` : ""}`
    + `${detail ? ` · ${detail}` : ""}`, false,
  { urgent: NEEDS_ACTION.has(frame.kind), kind: frame.kind });
  refreshSoon();
}

const live = new Live("/v1/ws/console", { onFrame, stateEl: $("link") });
window.consoleLive = live; // frames can be fed to the page by the browser tests
live.connect();

window.addEventListener("langchange", () => {
  live.relabel();
  cards.render();
  if ($("preview").childElementCount) previewTriage();
  renderQueue();
  renderFleet();
  if (state.selected) renderDetail();
});

setInterval(renderQueue, 30000); // waiting times
loadProtocol().catch((e) => { $("form-error").textContent = `${t("load_failed")}: ${e.message}`; });

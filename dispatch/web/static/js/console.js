// The dispatcher console: call taking driven by the triage protocol, the live queue,
// the selected call's location and recommended vehicles, the fleet, and alerts.
import { apply, code, lang, langSwitch, reasonText, t } from "./i18n.js";
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

const state = { calls: [], fleet: new Map(), selected: null, fix: null, schema: null,
  ringAt: new Date(), loadError: null };
const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ map
const dmap = new DispatchMap($("map"), { onClick: setFix });
dmap.loadReference().catch((e) => alertLine(`${t("load_failed")}: ${e.message}`, true));

function setFix(point) {
  state.fix = { ...point, accuracy_m: Number($("accuracy").value) || 50 };
  $("fix-text").removeAttribute("data-i18n");
  $("fix-text").textContent = `${point.lon.toFixed(5)}, ${point.lat.toFixed(5)} (manual)`;
  dmap.focus(point.lon, point.lat, state.fix.accuracy_m, { pan: false });
}

// ------------------------------------------------------------------ call taking
async function loadProtocol() {
  const [protocol, openapi] = await Promise.all([api("/v1/triage/protocol"),
    fetch("/openapi.json").then((r) => r.json())]);
  $("protocol-version").textContent = `(${t("protocol")} ${protocol.version})`;
  state.schema = openapi.components.schemas;
  renderQuestions();
}

function questionInput(name, prop) {
  const options = prop.anyOf || [prop];
  const kind = options.find((o) => o.type !== "null") || {};
  const ref = kind.$ref ? state.schema[kind.$ref.split("/").pop()] : null;
  if (kind.type === "boolean") {
    return el("select", { name, dataset: { kind: "bool" } },
      el("option", { value: "", textContent: t("unknown") }),
      el("option", { value: "true", textContent: t("yes") }),
      el("option", { value: "false", textContent: t("no") }));
  }
  if (kind.type === "number") {
    return el("input", { name, type: "number", min: kind.minimum, max: kind.maximum,
      step: "any", dataset: { kind: "number" } });
  }
  if (ref?.enum) {
    return el("select", { name, dataset: { kind: "enum" } },
      el("option", { value: "", textContent: t("unknown") }),
      ...ref.enum.map((v) => el("option", { value: v, textContent: code("sex", v) })));
  }
  return null; // lists and times are asked by the crew's findings, not here
}

function renderQuestions() {
  const box = $("questions");
  const kept = readAnswers();
  box.replaceChildren();
  const props = state.schema.Answers.properties;
  for (const [name, prop] of Object.entries(props)) {
    const input = questionInput(name, prop);
    if (!input) continue;
    if (kept[name] !== undefined) input.value = String(kept[name]);
    input.addEventListener("change", previewTriage);
    box.append(el("label", { dataset: { question: name } },
      el("span", { textContent: lang() === "zh" ? prop.label_zh : prop.label_en }), " ",
      input));
  }
}

function readAnswers() {
  const answers = {};
  for (const input of $("questions").querySelectorAll("[name]")) {
    if (input.value === "") continue;
    const kind = input.dataset.kind;
    answers[input.name] = kind === "bool" ? input.value === "true"
      : kind === "number" ? Number(input.value) : input.value;
  }
  return answers;
}

let previewTimer = null;
function previewTriage() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(async () => {
    try {
      const result = await api("/v1/triage/evaluate", { method: "POST",
        body: { answers: readAnswers(), complaint: $("complaint").value } });
      const p = $("preview");
      p.replaceChildren(acuityBadge(result.acuity), " ",
        result.pathway ? code("pathway", result.pathway) : "");
      // the questions the protocol still needs, first
      for (const label of $("questions").querySelectorAll("label")) {
        label.style.fontWeight = result.missing?.includes(label.dataset.question) ? "700" : "";
      }
    } catch (e) {
      $("preview").textContent = e.message;
    }
  }, 250);
}
$("complaint").addEventListener("input", previewTriage);

$("call-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("form-error").textContent = "";
  const caller = $("caller").value.trim();
  if (!/^\+?[0-9]{3,32}$/.test(caller)) {
    $("form-error").textContent = `${t("caller_number")}: 3-32 digits`;
    $("caller").focus();
    return;
  }
  const answeredAt = new Date();
  const body = { caller_number: caller, complaint: $("complaint").value.trim(),
    answers: readAnswers(), received_at: state.ringAt.toISOString(),
    answered_at: answeredAt.toISOString(), fixes: [] };
  if (state.fix) {
    body.fixes.push({ lon: state.fix.lon, lat: state.fix.lat,
      accuracy_m: Number($("accuracy").value) || state.fix.accuracy_m, source: "manual",
      observed_at: answeredAt.toISOString() });
  }
  try {
    const call = await api("/v1/calls", { method: "POST", body,
      headers: { "Idempotency-Key": crypto.randomUUID() } });
    alertLine(`${t("call_taken")}: ${call.id.slice(0, 8)}`);
    clearTimeout(previewTimer);
    $("call-form").reset();
    for (const label of $("questions").querySelectorAll("label")) label.style.fontWeight = "";
    state.fix = null;
    state.ringAt = new Date();
    $("fix-text").dataset.i18n = "click_map";
    $("fix-text").textContent = t("click_map");
    $("preview").textContent = "";
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
      " · ", call.pathway ? code("pathway", call.pathway) : "", " · ",
      el("span", { id: "detail-status", textContent: code("status", call.status) })),
    el("p", { className: "muted" },
      `${t("location")}: ${loc?.lon != null ? `${loc.lon.toFixed(5)}, ${loc.lat.toFixed(5)}`
        : t("none")} · ${t("accuracy")} ${loc?.radius_m != null ? Math.round(loc.radius_m)
        + " m" : "—"} (${loc?.method || "—"}) · ${t("destination")}: ${hospital?.name
        || call.destination_id || t("none")}`),
    el("ul", { className: "reasons" }, ...(call.triage?.reasons || []).map((r) =>
      el("li", { textContent: reasonText(r) }))),
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
        el("ul", { className: "reasons" }, ...r.reasons.map((x) => el("li", { textContent: x })))
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
const EVENT_LABELS = {
  call_created: ["新警情", "New call"], vehicle_assigned: ["已派车", "Vehicle assigned"],
  call_cancelled: ["警情已取消", "Call cancelled"], unassigned: ["车辆已撤回", "Vehicle released"],
  centre_alerted: ["医院已预警", "Hospital pre-alerted"],
  centre_acknowledged: ["医院已确认", "Hospital acknowledged"],
  team_activated: ["团队已启动", "Team activated"],
  destination_changed: ["目的医院变更", "Destination changed"],
  at_destination: ["已到达医院", "Arrived at hospital"], handover: ["已交接", "Handed over"],
  vehicle_status: ["车辆状态", "Vehicle status"], diversion: ["医院分流", "Hospital diversion"],
};

function alertLine(text, isError = false) {
  const li = el("li", { className: isError ? "error" : "" },
    el("span", { className: "muted", textContent: `${clock(new Date())} ` }), text);
  $("alerts").prepend(li);
  while ($("alerts").children.length > 100) $("alerts").lastElementChild.remove();
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
  const who = frame.data?.vehicle_id || frame.data?.hospital_id || "";
  alertLine(`${label}${frame.call_id ? ` · ${frame.call_id.slice(0, 8)}` : ""}`
    + `${who ? ` · ${who}` : ""}`);
  refreshSoon();
}

const live = new Live("/v1/ws/console", { onFrame, stateEl: $("link") });
window.consoleLive = live; // frames can be fed to the page by the browser tests
live.connect();

window.addEventListener("langchange", () => {
  live.relabel();
  if (state.schema) renderQuestions();
  renderQueue();
  renderFleet();
  if (state.selected) renderDetail();
});

setInterval(renderQueue, 30000); // waiting times
loadProtocol().catch((e) => { $("form-error").textContent = `${t("load_failed")}: ${e.message}`; });

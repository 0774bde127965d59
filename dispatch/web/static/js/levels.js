// One place for the colours of acuity levels and vehicle statuses, always shown with a
// text label beside them (colour is never the only signal).
import { code } from "./i18n.js";

export const ACUITY_COLOURS = { 1: "#c62828", 2: "#ef6c00", 3: "#f9a825", 4: "#2e7d32" };
const ACUITY_TEXT = { 1: "#fff", 2: "#fff", 3: "#111", 4: "#fff" };

export const STATUS_COLOURS = {
  available: "#198754", dispatched: "#ffaa00", en_route: "#fd7e14", on_scene: "#0dcaf0",
  transporting: "#6610f2", at_hospital: "#6f42c1", returning: "#20c997",
  out_of_service: "#6c757d",
};
const STATUS_TEXT = { on_scene: "#111", dispatched: "#111", returning: "#111" };

export function acuityBadge(level) {
  const span = document.createElement("span");
  span.className = "badge acuity";
  span.dataset.acuity = level ?? "";
  span.style.background = ACUITY_COLOURS[level] || "#777";
  span.style.color = ACUITY_TEXT[level] || "#fff";
  span.textContent = code("acuity", level);
  return span;
}

/** The text colour readable on a status's colour. */
export function statusText(status) {
  return STATUS_TEXT[status] || "#fff";
}

export function statusBadge(status) {
  const span = document.createElement("span");
  span.className = "badge status";
  span.dataset.status = status;
  span.style.background = STATUS_COLOURS[status] || "#9e9e9e";
  span.style.color = statusText(status);
  span.textContent = code("status", status);
  return span;
}

/** A small element: el("td", {className: "x"}, "text", child...). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

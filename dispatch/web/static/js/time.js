// Times for people: always in the centre's zone (the login answer's `timezone`, by
// default Asia/Shanghai), never bare UTC.
import { lang, t } from "./i18n.js";
import { session } from "./session.js";

function zone() {
  return session()?.timezone || "Asia/Shanghai";
}

const formats = new Map();

function format(options) {
  const key = `${lang()}|${zone()}|${JSON.stringify(options)}`;
  if (!formats.has(key)) {
    formats.set(key, new Intl.DateTimeFormat(lang() === "zh" ? "zh-CN" : "en-GB",
      { timeZone: zone(), hourCycle: "h23", ...options }));
  }
  return formats.get(key);
}

/** "14:03:22" in the centre's zone. */
export function clock(value) {
  if (value == null) return "";
  const d = value instanceof Date ? value : new Date(value);
  return format({ hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(d);
}

/** "12-05 14:03" in the centre's zone. */
export function dayTime(value) {
  if (value == null) return "";
  const d = value instanceof Date ? value : new Date(value);
  return format({ month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
    .format(d);
}

/** The zone's name as people read it ("北京时间" for Asia/Shanghai). */
export function zoneName() {
  if (zone() === "Asia/Shanghai") return lang() === "zh" ? "北京时间" : "China Standard Time";
  return zone();
}

/** The zone's offset from UTC at `date`, in ms. */
function offsetMs(date) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: zone(),
    hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit" }).formatToParts(date).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year, parts.month - 1, +parts.day, +parts.hour, +parts.minute,
    +parts.second);
  return asUtc - Math.floor(date.getTime() / 1000) * 1000;
}

/** "2026-12-06T09:30" (a datetime-local input) read in the centre's zone, as ISO 8601. */
export function fromCentreLocal(value) {
  const [day, time] = value.split("T");
  const [y, mo, d] = day.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let at = wall - offsetMs(new Date(wall));
  at = wall - offsetMs(new Date(at)); // again, in case the guess crossed a change of offset
  return new Date(at).toISOString();
}

/** "4:05" for 245 s; "−0:30" once overdue. */
export function countdown(seconds) {
  const s = Math.round(seconds);
  const sign = s < 0 ? "−" : "";
  const a = Math.abs(s);
  return `${sign}${Math.floor(a / 60)}:${String(a % 60).padStart(2, "0")}`;
}

/** "12 分" / "12 min" since `value`. */
export function since(value, now = Date.now()) {
  const minutes = Math.max(0, Math.floor((now - Date.parse(value)) / 60000));
  return `${minutes} ${t("minutes")}`;
}

/** A live clock in an element, with the zone's name. */
export function runClock(el) {
  const tick = () => { el.textContent = `${clock(new Date())} ${zoneName()}`; };
  tick();
  setInterval(tick, 1000);
  window.addEventListener("langchange", tick);
}

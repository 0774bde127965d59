// A websocket channel that stays up: the token on the URL (browsers cannot set headers
// on a websocket), reconnects with backoff, and resumes after the last event it saw
// (`last_event_id`), so a reconnect shows no gap and no duplicate.
import { t } from "./i18n.js";
import { session, showExpired } from "./session.js";

export class Live {
  constructor(path, { onFrame, onOpen, stateEl }) {
    this.path = path;
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.stateEl = stateEl;
    this.lastEventId = null;
    this.ws = null;
    this.backoffMs = 500;
    this.stopped = false;
    window.addEventListener("sessionexpired", () => this.stop());
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    const s = session();
    if (!s || this.stopped) return;
    const url = new URL(this.path, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", s.token);
    if (this.lastEventId) url.searchParams.set("last_event_id", this.lastEventId);
    this.setState("connecting");
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.backoffMs = 500;
      this.setState("connected");
      this.onOpen?.();
    };
    ws.onmessage = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === "snapshot") this.lastEventId = frame.last_event_id ?? this.lastEventId;
      else if (frame.type === "event") this.lastEventId = frame.id;
      else if (frame.type === "resync") {
        // Too far behind: start again from the server's word of where we are.
        this.lastEventId = frame.last_event_id ?? null;
        ws.close();
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === 1008 && /expired|invalid token/i.test(event.reason)) {
        showExpired();
        return;
      }
      if (this.stopped) {
        this.setState("stopped");
        return;
      }
      this.setState("disconnected");
      setTimeout(() => this.connect(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 10000);
    };
  }

  /** Send one frame; false when the link is down (the caller keeps it to resend). */
  send(frame) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  stop() {
    this.stopped = true;
    this.ws?.close();
    this.setState("stopped"); // signed out or expired: not reconnecting
  }

  setState(state) {
    this.state = state;
    if (!this.stateEl) return;
    this.stateEl.dataset.state = state;
    this.stateEl.textContent = t(state);
    document.body.dataset.link = state;
  }

  relabel() {
    if (this.state) this.setState(this.state);
  }
}

/** A client message id: unique per tab and sortable by time. */
export function newMsgId(prefix) {
  const random = Math.random().toString(36).slice(2, 8);
  return `${prefix}-${Date.now().toString(36)}-${random}`;
}

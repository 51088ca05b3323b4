// A live WebSocket that comes back: after a close it reconnects with a backoff (1 s, doubling
// up to 15 s), and it pings every 25 s so that proxies keep it open.

import { wsUrl } from "./common.js";

const PING_EVERY_MS = 25000;
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 15000;

export class LiveSocket {
  // `path()` gives the address of each attempt; `handlers`: open(), message(m), lost(failures).
  constructor(path, handlers) {
    this.path = path;
    this.handlers = handlers;
    this.ws = null;
    this.backoff = FIRST_BACKOFF_MS;
    this.failures = 0;
    this.closedForGood = false;
    this.pinger = null;
  }

  open() {
    const socket = new WebSocket(wsUrl(this.path()));
    this.ws = socket;
    socket.onopen = () => {
      if (this.handlers.open) this.handlers.open();
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      this.handlers.message(message);
    };
    socket.onclose = () => {
      if (this.ws === socket) this.ws = null;
      if (this.closedForGood) return;
      this.failures += 1;
      if (this.handlers.lost) this.handlers.lost(this.failures);
      setTimeout(() => this.open(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    };
    if (!this.pinger) this.pinger = setInterval(() => this.send({ type: "ping" }), PING_EVERY_MS);
  }

  // The server answered: the next loss starts the backoff afresh.
  settled() {
    this.backoff = FIRST_BACKOFF_MS;
    this.failures = 0;
  }

  isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (this.isOpen()) this.ws.send(JSON.stringify(message));
  }

  // Closes without coming back (the visit is over, the page is left).
  close() {
    this.closedForGood = true;
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = null;
    if (this.ws) this.ws.close();
  }
}

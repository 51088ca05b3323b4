// The staff waiting room: the list is re-read whenever the staff WebSocket reports a queue
// change or an alert (and every 15 s while live updates are down). What happened is counted in
// `window.telemedWaitingRoom`.

import { byId } from "./common.js";
import { LiveSocket } from "./socket.js";

const LIST = "waiting-room-live";

// Replaces the list with the page's current one, unless someone is using a control in it.
async function reread(W, later) {
  try {
    const response = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById(LIST);
    const current = byId(LIST);
    if (fresh && current && current.contains(document.activeElement) && document.activeElement !== document.body) {
      // Try again shortly rather than pull the control away.
      later(2000);
      return;
    }
    if (fresh && current) current.parentNode.replaceChild(document.importNode(fresh, true), current);
    W.refreshes += 1;
  } catch (e) {
    /* the next change tries again */
  }
}

function staffWaitingRoom(root) {
  const status = byId("live-status");
  const W = (window.telemedWaitingRoom = { connected: false, refreshes: 0 });
  let timer = null;
  let fallback = null;
  function soon(ms = 200) {
    if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        reread(W, soon);
      }, ms);
    }
  }
  const socket = new LiveSocket(() => root.getAttribute("data-live-url"), {
    open() {
      W.connected = true;
      socket.settled();
      if (fallback) {
        clearInterval(fallback);
        fallback = null;
      }
      status.textContent = "Live: this page updates itself when a patient checks in or an alert is raised.";
      soon();
    },
    message(m) {
      if (m.type === "queue" || m.type === "alert") soon();
    },
    lost(failures) {
      W.connected = false;
      status.textContent = "Reconnecting to live updates…";
      if (failures >= 3 && !fallback) fallback = setInterval(() => reread(W, soon), 15000);
    },
  });
  W.socket = socket;
  socket.open();
}

const root = byId("waiting-room");
if (root) staffWaitingRoom(root);

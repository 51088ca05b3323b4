// The staff inbox: the list is re-read whenever the staff WebSocket reports that a thread of
// one of the user's sites changed (and every 30 s while live updates are down). What happened
// is counted in `window.telemedInbox`.

import { byId } from "./common.js";
import { LiveSocket } from "./socket.js";

const LIST = "inbox-live";

async function reread(I) {
  try {
    const response = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById(LIST);
    const current = byId(LIST);
    if (fresh && current) current.parentNode.replaceChild(document.importNode(fresh, true), current);
    I.refreshes += 1;
  } catch (e) {
    /* the next change tries again */
  }
}

function staffInbox(root) {
  const status = byId("live-status");
  const I = (window.telemedInbox = { connected: false, refreshes: 0, threads: 0 });
  let timer = null;
  let fallback = null;
  function soon(ms = 200) {
    if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        reread(I);
      }, ms);
    }
  }
  const socket = new LiveSocket(() => root.getAttribute("data-live-url"), {
    open() {
      I.connected = true;
      socket.settled();
      if (fallback) {
        clearInterval(fallback);
        fallback = null;
      }
      status.textContent = "Live: new messages appear here as they arrive.";
    },
    message(m) {
      if (m.type === "thread") {
        I.threads += 1;
        soon();
      }
    },
    lost(failures) {
      I.connected = false;
      status.textContent = "Reconnecting to live updates…";
      if (failures >= 3 && !fallback) fallback = setInterval(() => reread(I), 30000);
    },
  });
  I.socket = socket;
  socket.open();
}

const root = byId("inbox");
if (root) staffInbox(root);

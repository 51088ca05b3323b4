// The urgent-care waiting page: while the patient waits, the page re-reads itself every 10 s and
// replaces the part that changes (place, wait, or the way into the visit), so nothing reloads
// under the patient's hands. Without JavaScript the page has a "Check again" button instead.
// What happened is counted in `window.telemedUrgentCare`.

import { byId } from "./common.js";

const PART = "queue-live";
const EVERY_MS = 10000;

async function reread(U) {
  try {
    const response = await fetch("/urgent-care", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById(PART);
    const current = byId(PART);
    if (!fresh || !current) return;
    // Leaving the queue is a form inside the part: do not pull it away while it is being used.
    if (current.contains(document.activeElement) && document.activeElement !== document.body) return;
    if (fresh.innerHTML !== current.innerHTML) {
      current.parentNode.replaceChild(document.importNode(fresh, true), current);
      U.changes += 1;
    }
    U.rereads += 1;
  } catch (e) {
    /* the next tick tries again */
  }
}

function urgentCare() {
  const U = (window.telemedUrgentCare = { rereads: 0, changes: 0 });
  const again = byId("check-again");
  // With the page updating itself, the button is not needed.
  if (again) again.hidden = true;
  const note = byId("updates-note");
  if (note) note.textContent = "This page updates by itself while it is open.";
  setInterval(() => {
    if (!document.hidden) reread(U);
  }, EVERY_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) reread(U);
  });
}

if (byId(PART)) urgentCare();

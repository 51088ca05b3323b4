// What every live page shares: element lookup, WebSocket addresses, and forms sent in the
// background (the same POST the page makes without JavaScript).

export function byId(id) {
  return document.getElementById(id);
}

export function wsUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

// A redirect means done; otherwise the page that answered is parsed (an error summary, or a
// page to take parts from).
export async function sendForm(form) {
  const response = await fetch(form.action, {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    credentials: "same-origin",
    redirect: "manual",
  });
  if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
    return { ok: true, doc: null };
  }
  const text = await response.text();
  const doc = new DOMParser().parseFromString(text, "text/html");
  return { ok: response.ok, status: response.status, doc: doc };
}

// The sentence a refused form's page shows.
export function errorText(doc) {
  const fallback = "Something went wrong. Please try again.";
  if (!doc) return fallback;
  const summary = doc.querySelector(".error-summary-list");
  if (summary) return summary.textContent.replace(/\s+/g, " ").trim();
  const main = doc.querySelector("main p");
  return main ? main.textContent.trim() : fallback;
}

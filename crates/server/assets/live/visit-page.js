// What the live visit page shows: the waiting room, the call or the end, the wait, the guests
// (with the clinician's "let in" buttons), the video tiles, chat lines, notes to the
// participant, and the page's forms sent in the background so that the call goes on.

import { byId, errorText, sendForm } from "./common.js";

const RELATIONS = { interpreter: "Interpreter", family: "Family member", caregiver: "Caregiver", other: "Guest" };
const GUEST_STATUS = {
  admitted: "In the call",
  waiting: "Waiting to be let in",
  expired: "Link expired",
  invited: "Invited, not joined yet",
};

export function isOver(state) {
  return state === "ended" || state === "cancelled";
}

function waitText(minutes) {
  if (minutes === 0) return "Any moment now.";
  if (minutes === 1) return "About 1 minute.";
  return "About " + minutes + " minutes.";
}

export class VisitPage {
  constructor(root) {
    this.root = root;
    this.visitId = root.getAttribute("data-visit-id");
    this.role = root.getAttribute("data-role");
    this.csrf = root.getAttribute("data-csrf");
  }

  note(text) {
    const el = byId("call-note");
    if (el) el.textContent = text;
  }

  focusHeading() {
    const h = byId("visit-heading");
    if (h) h.focus();
  }

  // The page for the visit's `state`, whether this participant is `admitted`, and their view
  // of the `visit` (from the server's `state` frame).
  render(state, admitted, visit) {
    const v = visit || {};
    const over = isOver(state);
    byId("over").hidden = !over;
    byId("waiting").hidden = over || admitted;
    byId("call").hidden = over || !admitted;
    const status = byId("visit-status");
    if (state === "cancelled") {
      byId("over-title").textContent = "This visit was cancelled";
      byId("over-message").textContent = "This visit was cancelled, so the waiting room is closed. Your appointments page shows what happens next; book a new visit if you still need one.";
      status.textContent = "This visit was cancelled.";
    } else if (state === "ended") {
      byId("over-title").textContent = "The visit has ended";
      byId("over-message").textContent = "The visit has ended. Thank you.";
      status.textContent = "The visit has ended.";
    } else if (admitted) {
      status.textContent = state === "reconnecting" ? "In the call: reconnecting…" : "In the call.";
    } else {
      status.textContent = this.role === "clinician" ? "The patient is in the waiting room." : "You are checked in. The clinician will let you in.";
    }
    if (over) this.showWayOut();
    const wait = byId("wait");
    if (wait && typeof v.wait_minutes === "number") wait.textContent = waitText(v.wait_minutes);
    const admit = byId("admit-form");
    if (admit) admit.hidden = state !== "waiting";
    const end = byId("end");
    if (end) end.hidden = over;
    const invite = document.querySelector("details.invite");
    if (invite && over) invite.hidden = true;
    if (v.guests) this.renderGuests(v.guests, over);
    if (typeof v.location_text === "string" && byId("location-text")) byId("location-text").textContent = v.location_text;
  }

  // Where to go once the visit is over: its record for the clinician, the appointment for the
  // patient, nowhere for a guest.
  showWayOut() {
    const link = byId("over-link");
    const clinician = this.role === "clinician";
    const href = clinician ? "/visits/" + this.visitId + "/record" : this.role === "patient" ? "/appointments/" + this.visitId : null;
    if (link && href) {
      link.href = href;
      link.textContent = clinician ? "See the visit's record" : "Back to the appointment";
      link.hidden = false;
    }
  }

  renderGuests(guests, over) {
    const list = byId("guest-list");
    if (!list || !guests) return;
    list.textContent = "";
    for (const g of guests) {
      const li = document.createElement("li");
      li.className = "guest";
      li.appendChild(span("guest-name", g.name));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(span("muted", RELATIONS[g.relation] || "Guest"));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(span("guest-status", GUEST_STATUS[g.status] || g.status));
      if (this.role === "clinician" && g.status === "waiting" && !over) li.appendChild(this.letInForm(g));
      list.appendChild(li);
    }
  }

  // The same form the page has without JavaScript.
  letInForm(g) {
    const form = document.createElement("form");
    form.className = "inline-form";
    form.method = "post";
    form.action = "/visits/" + this.visitId + "/guests/" + g.id + "/admit";
    form.setAttribute("data-async", "admit-guest");
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf";
    token.value = this.csrf;
    const button = document.createElement("button");
    button.className = "button button-small";
    button.type = "submit";
    button.textContent = "Let " + g.name + " in";
    form.appendChild(token);
    form.appendChild(button);
    return form;
  }

  showReplaced(message) {
    byId("call").hidden = true;
    byId("waiting").hidden = true;
    byId("over").hidden = false;
    byId("over-title").textContent = "Open in another window";
    byId("over-message").textContent = message || "You opened this visit in another window; this one is closed.";
    byId("visit-status").textContent = "This window is closed: the visit is open in another one.";
    this.focusHeading();
  }

  addChat(m, mine) {
    const list = byId("chat-log");
    const li = document.createElement("li");
    li.className = "chat-line";
    li.appendChild(span("chat-who", (mine ? "You" : m.name || "Someone") + ": "));
    li.appendChild(span("", m.text));
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  }

  showAudioOnly(on) {
    const button = byId("toggle-audio-only");
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "Back to video" : "Audio only";
    byId("toggle-camera").disabled = on;
    byId("quality-prompt").hidden = true;
  }

  // Suggests audio only (the connection is poor), once.
  offerAudioOnly() {
    const prompt = byId("quality-prompt");
    if (prompt.hidden) {
      prompt.hidden = false;
      byId("quality-audio").focus();
    }
  }

  // The video tiles of the others, for the mesh.
  get tiles() {
    return {
      addTile(entry) {
        const figure = document.createElement("figure");
        figure.className = "video-tile";
        figure.setAttribute("data-peer", entry.id);
        const video = document.createElement("video");
        video.className = "video";
        video.autoplay = true;
        video.playsInline = true;
        const caption = document.createElement("figcaption");
        figure.appendChild(video);
        figure.appendChild(caption);
        byId("videos").appendChild(figure);
        entry.video = video;
        entry.caption = caption;
        this.label(entry);
      },
      label(entry) {
        const name = entry.info.name || "Participant";
        entry.caption.textContent = name + (entry.info.role ? " (" + entry.info.role + ")" : "");
      },
      removeTile(entry) {
        const figure = entry.video && entry.video.parentNode;
        if (figure && figure.parentNode) figure.parentNode.removeChild(figure);
      },
    };
  }

  // The page's forms marked `data-async` (invite, emergency, let in) go in the background.
  sendFormsInBackground() {
    this.root.addEventListener("submit", async (e) => {
      const form = e.target;
      const kind = form.getAttribute("data-async");
      if (!kind) return;
      e.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      const old = form.querySelector(".form-problem");
      if (old) old.parentNode.removeChild(old);
      try {
        const result = await sendForm(form);
        if (!result.ok) throw new Error(errorText(result.doc));
        if (kind === "invite") this.showInviteLink(form, result.doc);
        else if (kind === "emergency") this.emergencyRecorded(form);
      } catch (err) {
        const p = document.createElement("p");
        p.className = "field-error form-problem";
        p.setAttribute("role", "alert");
        p.textContent = err.message;
        form.appendChild(p);
      } finally {
        if (button) button.disabled = false;
      }
    });
  }

  // The invitation's link is shown only on the page answering the POST: take it from there.
  showInviteLink(form, doc) {
    const box = doc && doc.getElementById("invite-link-box");
    const current = byId("invite-link-box");
    if (box) {
      const imported = document.importNode(box, true);
      if (current) current.parentNode.replaceChild(imported, current);
      else form.closest("details").parentNode.insertBefore(imported, form.closest("details"));
      const input = byId("invite-link");
      if (input) input.focus();
    }
    form.reset();
  }

  emergencyRecorded(form) {
    form.reset();
    const details = form.closest("details");
    if (details) details.open = false;
    this.note("Emergency recorded. The site's staff have been alerted.");
    byId("visit-status").textContent = "Emergency recorded. The site's staff have been alerted.";
  }
}

function span(className, text) {
  const el = document.createElement("span");
  if (className) el.className = className;
  el.textContent = text;
  return el;
}

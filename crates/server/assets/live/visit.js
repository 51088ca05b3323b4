// The live visit page: the waiting room follows the visit's state over the visit's WebSocket,
// then the call (mesh.js) with mute, camera off, audio only, chat, quality reports and
// reconnection. The page itself works without this script; `window.telemedVisit` shows where
// the page stands (its state, who is in the call) and offers a few handles to tests.

import { byId } from "./common.js";
import { LocalMedia } from "./media.js";
import { Mesh } from "./mesh.js";
import { inboundVideo, poorTwiceInARow, reports } from "./quality.js";
import { LiveSocket } from "./socket.js";
import { VisitPage, isOver } from "./visit-page.js";

const STATS_EVERY_MS = 10000;
// After signaling comes back, how long a connection whose participant has not (yet) is kept.
const RESUME_GRACE_MS = 15000;

function liveVisit(root) {
  const page = new VisitPage(root);
  const T = (window.telemedVisit = {
    state: root.getAttribute("data-state"),
    admitted: root.getAttribute("data-admitted") === "true",
    peers: [],
    you: null,
    visit: null,
    audioOnly: root.getAttribute("data-audio-only") === "true",
    connected: false,
    welcomes: 0,
    log: [],
  });
  let promptDismissed = false;
  let lastAdmitted = T.admitted;
  let lastState = T.state;
  let queue = Promise.resolve();

  function log(what) {
    T.log.push([Date.now(), what]);
    if (T.log.length > 200) T.log.shift();
  }

  // Coming back, the browser asks to keep its peer id: the others' connections to it (which
  // may well carry media still, peer to peer) then go on.
  const livePath = () => "/api/v1/visits/" + page.visitId + "/live" + (T.you ? "?resume=" + encodeURIComponent(T.you.peer) : "");
  const socket = new LiveSocket(livePath, {
    message(m) {
      queue = queue.then(() => onMessage(m)).catch((err) => log("error " + err));
    },
    lost(failures) {
      page.note("Connection to the visit lost: reconnecting…");
      if (failures >= 3) checkPage();
    },
  });
  const send = (message) => socket.send(message);
  const media = new LocalMedia(byId("local-video"), (text) => page.note(text));
  const mesh = new Mesh({
    media,
    send,
    tiles: page.tiles,
    log,
    events: {
      connected() {
        T.connected = true;
        page.note("");
        send({ type: "connected" });
      },
      unstable(firstTime) {
        page.note("The connection is unstable: reconnecting…");
        if (firstTime) send({ type: "reconnecting" });
      },
      holdOver() {
        reconcile();
      },
    },
  });

  const inCall = () => T.admitted && !isOver(T.state);
  const reconcile = () => mesh.reconcile(T.peers, inCall(), T.audioOnly);

  async function applyAudioOnly(on) {
    T.audioOnly = on;
    page.showAudioOnly(on);
    await media.setAudioOnly(on, () => mesh.videoSenders());
  }

  function switchAudio(on) {
    send({ type: "media", audio_only: on });
    return applyAudioOnly(on);
  }

  function judge(entry, s) {
    if (poorTwiceInARow(entry, s) && !T.audioOnly && !promptDismissed) page.offerAudioOnly();
  }

  function teardown() {
    mesh.closeAll();
    media.stop();
  }

  async function onState(m) {
    T.visit = m.visit;
    T.state = m.visit.state;
    T.admitted = !!m.admitted;
    page.render(T.state, T.admitted, T.visit);
    if (typeof m.visit.audio_only === "boolean" && m.visit.audio_only !== T.audioOnly) {
      await applyAudioOnly(m.visit.audio_only);
    }
    if (isOver(T.state)) {
      teardown();
      socket.close();
    }
    if (T.state !== lastState && isOver(T.state)) page.focusHeading();
    if (T.admitted !== lastAdmitted) {
      page.focusHeading();
      await reconcile();
    }
    lastAdmitted = T.admitted;
    lastState = T.state;
  }

  async function onMessage(m) {
    switch (m.type) {
      case "welcome": {
        const previous = T.you && T.you.peer;
        T.you = mesh.you = m.you;
        T.welcomes += 1;
        mesh.iceConfig = { iceServers: m.ice_servers || [], iceTransportPolicy: m.ice_transport_policy === "relay" ? "relay" : "all" };
        socket.settled();
        if (previous && previous !== m.you.peer) {
          // A new peer id: the others rebuild their side, so do we.
          mesh.closeAll();
        } else if (previous) {
          // The same peer id again: the connections go on. The others may be coming back too
          // (if their server went down with ours): keep what still carries media a while.
          mesh.holdFor(RESUME_GRACE_MS);
          if (mesh.anyConnected()) {
            page.note("");
            send({ type: "connected" });
          }
        }
        break;
      }
      case "state":
        await onState(m);
        break;
      case "peers":
        T.peers = m.peers || [];
        await reconcile();
        break;
      case "signal":
        if (inCall()) await mesh.onSignal(m.from, m.data || {}, T.peers, T.audioOnly);
        break;
      case "chat":
        page.addChat(m, T.you && m.from === T.you.peer);
        break;
      case "error":
        log("refused: " + m.code + " " + m.message);
        break;
      case "replaced":
        socket.close();
        teardown();
        T.state = "replaced";
        page.showReplaced(m.message);
        break;
      default:
        break;
    }
  }

  // After failed attempts, ask the page itself: a visit that is over, or a link that no longer
  // works, is shown by reloading it.
  async function checkPage() {
    try {
      const response = await fetch(location.pathname, { credentials: "same-origin", redirect: "manual" });
      if (response.status >= 400 || response.type === "opaqueredirect") location.reload();
    } catch (e) {
      /* offline: keep trying */
    }
  }

  async function reportStats() {
    if (!T.admitted || !mesh.size) return;
    const samples = await reports(mesh, judge);
    if (samples.length) send({ type: "stats", samples: samples });
  }

  // Controls.
  byId("toggle-mute").addEventListener("click", function () {
    media.setMuted(!media.muted);
    this.setAttribute("aria-pressed", media.muted ? "true" : "false");
    this.textContent = media.muted ? "Unmute" : "Mute";
  });
  byId("toggle-camera").addEventListener("click", function () {
    media.setCameraOff(!media.cameraOff);
    this.setAttribute("aria-pressed", media.cameraOff ? "true" : "false");
    this.textContent = media.cameraOff ? "Turn camera on" : "Turn camera off";
  });
  byId("toggle-audio-only").addEventListener("click", () => switchAudio(!T.audioOnly));
  byId("quality-audio").addEventListener("click", () => switchAudio(true));
  byId("quality-dismiss").addEventListener("click", () => {
    promptDismissed = true;
    byId("quality-prompt").hidden = true;
  });
  byId("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = byId("chat-text");
    const text = input.value.trim();
    if (!text) return;
    send({ type: "chat", text: text });
    input.value = "";
  });
  page.sendFormsInBackground();
  window.addEventListener("pagehide", () => socket.close());

  // Handles for tests: judge a report as if measured, switch to audio only, read the video.
  T.judge = (s) => {
    const first = mesh.entries().next().value;
    if (first) judge(first, s);
  };
  T.setAudioOnly = switchAudio;
  T.inboundVideo = () => inboundVideo(mesh);

  page.render(T.state, T.admitted, T.visit);
  if (!isOver(T.state)) {
    socket.open();
    setInterval(() => reportStats().catch(() => {}), STATS_EVERY_MS);
  }
}

const root = byId("visit");
if (root) liveVisit(root);

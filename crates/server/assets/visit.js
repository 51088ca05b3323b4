// Video visits, as progressive enhancement (every page works without this file):
// - the device check of the check-in page (camera preview, microphone level, connection);
// - the live visit page: the waiting room follows the visit's state over the visit's WebSocket,
//   then the call: a mesh of RTCPeerConnections (at most four participants), mute, camera off,
//   audio only, chat, quality reports, reconnection with ICE restarts;
// - the staff waiting room, re-read whenever the staff WebSocket reports a change.
//
// Rule of the mesh: for each pair of participants, the one whose peer id sorts first makes the
// offers (the first one, and each ICE restart); the other answers. A participant who comes back
// has a new peer id, so both sides build a fresh connection for the pair.
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  function wsUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  // Sends a form in the background (the same POST as without JavaScript). A redirect means done;
  // otherwise the page that answered is parsed (an error summary, or a page to take parts from).
  async function sendForm(form) {
    var response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
      redirect: "manual",
    });
    if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
      return { ok: true, doc: null };
    }
    var text = await response.text();
    var doc = new DOMParser().parseFromString(text, "text/html");
    return { ok: response.ok, status: response.status, doc: doc };
  }

  function errorText(doc) {
    if (!doc) return "Something went wrong. Please try again.";
    var summary = doc.querySelector(".error-summary-list");
    if (summary) return summary.textContent.replace(/\s+/g, " ").trim();
    var main = doc.querySelector("main p");
    return main ? main.textContent.trim() : "Something went wrong. Please try again.";
  }

  // ------------------------------------------------------------------------------------------
  // The device check of the check-in page.
  function deviceCheck(section) {
    section.hidden = false;
    var status = byId("device-status");
    var iceServers = [];
    try {
      iceServers = JSON.parse(section.getAttribute("data-ice-servers") || "[]");
    } catch (e) {
      iceServers = [];
    }
    var policy = section.getAttribute("data-ice-policy") === "relay" ? "relay" : "all";
    var stream = null;
    var result = (window.telemedDeviceCheck = { camera: null, microphone: null, connection: null });

    function say(id, text) {
      byId(id).textContent = text;
      status.textContent = text;
    }

    async function media() {
      byId("device-start").disabled = true;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } });
      } catch (e) {
        try {
          stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        } catch (e2) {
          result.camera = result.microphone = false;
          say("device-camera", "Not available: the browser was not allowed to use it, or there is none.");
          say("device-microphone", "Not available.");
          byId("device-start").disabled = false;
          return;
        }
      }
      var preview = byId("device-preview");
      if (stream.getVideoTracks().length) {
        preview.srcObject = stream;
        preview.onloadedmetadata = function () {
          result.camera = true;
          say("device-camera", "Working (" + preview.videoWidth + "×" + preview.videoHeight + ").");
        };
      } else {
        result.camera = false;
        say("device-camera", "No camera found: the visit can go on by voice.");
      }
      var track = stream.getAudioTracks()[0];
      if (!track) {
        result.microphone = false;
        say("device-microphone", "No microphone found.");
        return;
      }
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var audio = new Ctx();
      var analyser = audio.createAnalyser();
      analyser.fftSize = 512;
      audio.createMediaStreamSource(stream).connect(analyser);
      var data = new Float32Array(analyser.fftSize);
      var meter = byId("device-level");
      var heard = false;
      say("device-microphone", "Listening: say something.");
      function tick() {
        analyser.getFloatTimeDomainData(data);
        var sum = 0;
        for (var i = 0; i < data.length; i++) sum += data[i] * data[i];
        var level = Math.min(1, Math.sqrt(sum / data.length) * 4);
        meter.value = level;
        if (!heard && level > 0.02) {
          heard = true;
          result.microphone = true;
          say("device-microphone", "Working: we can hear you.");
        }
        if (stream.active) requestAnimationFrame(tick);
      }
      tick();
    }

    async function connection() {
      say("device-connection", "Checking…");
      var times = [];
      for (var i = 0; i < 3; i++) {
        var started = performance.now();
        try {
          await fetch("/healthz", { cache: "no-store" });
          times.push(performance.now() - started);
        } catch (e) {
          /* counted as missing */
        }
      }
      if (!times.length) {
        result.connection = false;
        say("device-connection", "We could not reach the server. Check your internet connection.");
        return;
      }
      times.sort(function (a, b) { return a - b; });
      var rtt = Math.round(times[Math.floor(times.length / 2)]);
      var types = {};
      try {
        var pc = new RTCPeerConnection({ iceServers: iceServers, iceTransportPolicy: policy });
        pc.createDataChannel("check");
        await new Promise(function (resolve) {
          var timer = setTimeout(resolve, 4000);
          pc.onicecandidate = function (e) {
            if (!e.candidate) {
              clearTimeout(timer);
              resolve();
            } else if (e.candidate.type) {
              types[e.candidate.type] = true;
            }
          };
          pc.createOffer().then(function (o) { return pc.setLocalDescription(o); }).catch(resolve);
        });
        pc.close();
      } catch (e) {
        /* no WebRTC: reported below */
      }
      var ok = policy === "relay" ? !!types.relay : Object.keys(types).length > 0;
      result.connection = ok;
      result.roundTripMs = rtt;
      result.candidateTypes = Object.keys(types);
      if (!ok) {
        say("device-connection", "The video connection could not be prepared (" + rtt + " ms to the server). The call may not connect; try another network, or the visit can go on by phone.");
      } else if (rtt > 600) {
        say("device-connection", "Slow (" + rtt + " ms to the server): if video stutters, switch to audio only during the visit.");
      } else {
        say("device-connection", "Good (" + rtt + " ms to the server).");
      }
    }

    byId("device-start").addEventListener("click", media);
    connection();
    var form = section.closest("form");
    if (form) {
      form.addEventListener("submit", function () {
        if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      });
    }
  }

  // ------------------------------------------------------------------------------------------
  // The live visit page.
  var RELATIONS = { interpreter: "Interpreter", family: "Family member", caregiver: "Caregiver", other: "Guest" };
  var GUEST_STATUS = {
    admitted: "In the call",
    waiting: "Waiting to be let in",
    expired: "Link expired",
    invited: "Invited, not joined yet",
  };

  function liveVisit(root) {
    var visitId = root.getAttribute("data-visit-id");
    var role = root.getAttribute("data-role");
    var csrf = root.getAttribute("data-csrf");
    var T = (window.telemedVisit = {
      state: root.getAttribute("data-state"),
      admitted: root.getAttribute("data-admitted") === "true",
      peers: [],
      you: null,
      visit: null,
      audioOnly: root.getAttribute("data-audio-only") === "true",
      connected: false,
      log: [],
    });
    var ws = null;
    var backoff = 1000;
    var failures = 0;
    var closedForGood = false;
    var pcs = new Map();
    var local = null;
    var mediaReady = null;
    var muted = false;
    var cameraOff = false;
    var promptDismissed = false;
    var iceConfig = { iceServers: [], iceTransportPolicy: "all" };
    var queue = Promise.resolve();
    var lastAdmitted = T.admitted;
    var lastState = T.state;

    function log(what) {
      T.log.push([Date.now(), what]);
      if (T.log.length > 200) T.log.shift();
    }

    function note(text) {
      var el = byId("call-note");
      if (el) el.textContent = text;
    }

    function send(message) {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
    }

    function over() {
      return T.state === "ended" || T.state === "cancelled";
    }

    // -- media --------------------------------------------------------------------------------
    function ensureMedia() {
      if (mediaReady) return mediaReady;
      mediaReady = (async function () {
        var video = T.audioOnly ? false : { width: { ideal: 640 }, height: { ideal: 480 } };
        try {
          local = await navigator.mediaDevices.getUserMedia({ audio: true, video: video });
        } catch (e) {
          try {
            local = await navigator.mediaDevices.getUserMedia({ audio: true });
            if (video) note("Your camera is not available: the others hear you but cannot see you.");
          } catch (e2) {
            local = new MediaStream();
            note("No camera or microphone is available: you can see and hear the others, they cannot hear you.");
          }
        }
        local.getAudioTracks().forEach(function (t) { t.enabled = !muted; });
        local.getVideoTracks().forEach(function (t) { t.enabled = !cameraOff; });
        byId("local-video").srcObject = local;
      })();
      return mediaReady;
    }

    function track(kind) {
      if (!local) return null;
      var list = kind === "video" ? local.getVideoTracks() : local.getAudioTracks();
      return list.length ? list[0] : null;
    }

    function senderOf(entry, kind) {
      var t = entry.pc.getTransceivers().find(function (x) {
        return x.receiver && x.receiver.track && x.receiver.track.kind === kind;
      });
      return t ? t.sender : null;
    }

    // Switches this browser to audio only (camera released) or back to video, without
    // renegotiating: each connection keeps its video sender, with or without a track.
    async function applyAudioOnly(on) {
      T.audioOnly = on;
      var button = byId("toggle-audio-only");
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "Back to video" : "Audio only";
      byId("toggle-camera").disabled = on;
      byId("quality-prompt").hidden = true;
      if (!mediaReady) return;
      await mediaReady;
      if (on) {
        local.getVideoTracks().forEach(function (t) {
          t.stop();
          local.removeTrack(t);
        });
        for (var entry of pcs.values()) {
          var s = senderOf(entry, "video");
          if (s) await s.replaceTrack(null);
        }
      } else if (!track("video")) {
        try {
          var got = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } } });
          var t = got.getVideoTracks()[0];
          t.enabled = !cameraOff;
          local.addTrack(t);
          for (var e of pcs.values()) {
            var sender = senderOf(e, "video");
            if (sender) await sender.replaceTrack(t);
          }
        } catch (err) {
          note("Your camera is not available: the call goes on by voice.");
        }
      }
      byId("local-video").srcObject = local;
    }

    // -- peer connections ---------------------------------------------------------------------
    function tileFor(entry) {
      var figure = document.createElement("figure");
      figure.className = "video-tile";
      figure.setAttribute("data-peer", entry.id);
      var video = document.createElement("video");
      video.className = "video";
      video.autoplay = true;
      video.playsInline = true;
      var caption = document.createElement("figcaption");
      figure.appendChild(video);
      figure.appendChild(caption);
      byId("videos").appendChild(figure);
      entry.video = video;
      entry.caption = caption;
      label(entry);
    }

    function label(entry) {
      var name = entry.info.name || "Participant";
      entry.caption.textContent = name + (entry.info.role ? " (" + entry.info.role + ")" : "");
    }

    function createPc(info) {
      var id = info.peer;
      var pc = new RTCPeerConnection(iceConfig);
      var entry = {
        id: id,
        info: info,
        pc: pc,
        offerer: T.you !== null && T.you.peer < id,
        pending: [],
        answered: false,
        dropped: false,
        restartWanted: false,
        prev: null,
        poor: 0,
        stream: new MediaStream(),
      };
      pcs.set(id, entry);
      tileFor(entry);
      if (entry.offerer) {
        ["audio", "video"].forEach(function (kind) {
          var t = track(kind);
          pc.addTransceiver(t || kind, { direction: "sendrecv", streams: [local] });
        });
      }
      pc.onicecandidate = function (e) {
        if (e.candidate && pcs.get(id) === entry) {
          send({ type: "signal", to: id, data: { candidate: e.candidate.toJSON() } });
        }
      };
      pc.ontrack = function (e) {
        entry.stream.addTrack(e.track);
        entry.video.srcObject = entry.stream;
        var play = entry.video.play();
        if (play && play.catch) play.catch(function () {});
      };
      pc.onconnectionstatechange = function () {
        var s = pc.connectionState;
        log("pc " + id + " " + s);
        if (pcs.get(id) !== entry) return;
        if (s === "connected") {
          entry.dropped = false;
          T.connected = true;
          note("");
          send({ type: "connected" });
        } else if (s === "disconnected" || s === "failed") {
          note("The connection is unstable: reconnecting…");
          if (!entry.dropped) {
            entry.dropped = true;
            send({ type: "reconnecting" });
          }
          if (entry.offerer) offer(entry, true);
        }
      };
      pc.onsignalingstatechange = function () {
        if (pc.signalingState === "stable" && entry.restartWanted) {
          entry.restartWanted = false;
          offer(entry, true);
        }
      };
      return entry;
    }

    async function offer(entry, iceRestart) {
      var pc = entry.pc;
      if (pc.signalingState !== "stable") {
        entry.restartWanted = iceRestart;
        return;
      }
      var description = await pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
      await pc.setLocalDescription(description);
      send({ type: "signal", to: entry.id, data: { description: pc.localDescription } });
    }

    function closePc(id) {
      var entry = pcs.get(id);
      if (!entry) return;
      pcs.delete(id);
      entry.pc.onicecandidate = null;
      entry.pc.onconnectionstatechange = null;
      entry.pc.close();
      var figure = entry.video && entry.video.parentNode;
      if (figure && figure.parentNode) figure.parentNode.removeChild(figure);
    }

    function closeAll() {
      Array.from(pcs.keys()).forEach(closePc);
    }

    async function reconcile() {
      if (!T.admitted || over() || !T.you) {
        closeAll();
        return;
      }
      await ensureMedia();
      var wanted = new Set(T.peers.map(function (p) { return p.peer; }));
      Array.from(pcs.keys()).forEach(function (id) {
        if (!wanted.has(id)) closePc(id);
      });
      for (var p of T.peers) {
        var entry = pcs.get(p.peer);
        if (entry) {
          entry.info = p;
          label(entry);
          continue;
        }
        entry = createPc(p);
        if (entry.offerer) await offer(entry, false);
      }
    }

    async function onSignal(from, data) {
      if (!T.admitted || over()) return;
      var entry = pcs.get(from);
      if (!entry) {
        await ensureMedia();
        var info = T.peers.find(function (p) { return p.peer === from; }) || { peer: from, role: "", name: "" };
        entry = createPc(info);
      }
      var pc = entry.pc;
      if (data.description) {
        var d = data.description;
        if (d.type === "offer") {
          if (pc.signalingState !== "stable") await pc.setLocalDescription({ type: "rollback" });
          await pc.setRemoteDescription(d);
          if (!entry.answered) {
            // Send on every line the offer opened, with whatever this browser has.
            for (var t of pc.getTransceivers()) {
              var kind = t.receiver.track.kind;
              t.direction = "sendrecv";
              var mine = track(kind);
              if (t.sender.track !== mine) await t.sender.replaceTrack(mine);
              if (local && t.sender.setStreams) t.sender.setStreams(local);
            }
            entry.answered = true;
          }
          await pc.setLocalDescription(await pc.createAnswer());
          send({ type: "signal", to: from, data: { description: pc.localDescription } });
        } else if (d.type === "answer") {
          if (pc.signalingState === "have-local-offer") await pc.setRemoteDescription(d);
        }
        var waiting = entry.pending.splice(0);
        for (var c of waiting) await pc.addIceCandidate(c).catch(function () {});
      } else if (data.candidate) {
        if (!pc.remoteDescription) entry.pending.push(data.candidate);
        else await pc.addIceCandidate(data.candidate).catch(function () {});
      }
    }

    // -- quality ------------------------------------------------------------------------------
    async function sample(entry) {
      var report = await entry.pc.getStats();
      var stats = new Map();
      report.forEach(function (s) { stats.set(s.id, s); });
      var rtt = null;
      var lost = 0;
      var received = 0;
      var bytes = 0;
      var frames = null;
      stats.forEach(function (s) {
        if (s.type === "transport" && s.selectedCandidatePairId) {
          var pair = stats.get(s.selectedCandidatePairId);
          if (pair && typeof pair.currentRoundTripTime === "number") rtt = pair.currentRoundTripTime * 1000;
        }
        if (s.type === "inbound-rtp") {
          lost += Math.max(0, s.packetsLost || 0);
          received += s.packetsReceived || 0;
          bytes += s.bytesReceived || 0;
          if (s.kind === "video") frames = (frames || 0) + (s.framesDecoded || 0);
        }
      });
      var now = performance.now();
      var prev = entry.prev;
      var dLost = prev ? lost - prev.lost : lost;
      var dReceived = prev ? received - prev.received : received;
      var loss = dLost + dReceived > 0 ? Math.min(100, Math.max(0, (100 * dLost) / (dLost + dReceived))) : null;
      var kbps = prev && now > prev.t ? Math.min(1000000, Math.max(0, ((bytes - prev.bytes) * 8) / (now - prev.t))) : null;
      entry.prev = { lost: lost, received: received, bytes: bytes, t: now };
      return {
        round_trip_ms: rtt === null ? null : Math.min(60000, Math.round(rtt * 10) / 10),
        packet_loss_pct: loss === null ? null : Math.round(loss * 100) / 100,
        bitrate_kbps: kbps === null ? null : Math.round(kbps * 10) / 10,
        frames_decoded: frames,
      };
    }

    // Two poor reports in a row (loss above 8 % or a round trip above 600 ms) suggest audio only.
    function judge(entry, s) {
      var poor = (s.packet_loss_pct !== null && s.packet_loss_pct > 8) || (s.round_trip_ms !== null && s.round_trip_ms > 600);
      entry.poor = poor ? entry.poor + 1 : 0;
      if (entry.poor >= 2 && !T.audioOnly && !promptDismissed) {
        var prompt = byId("quality-prompt");
        if (prompt.hidden) {
          prompt.hidden = false;
          byId("quality-audio").focus();
        }
      }
    }
    T.judge = function (s) {
      var first = pcs.values().next().value;
      if (first) judge(first, s);
    };

    async function reportStats() {
      if (!T.admitted || !pcs.size) return;
      var samples = [];
      for (var entry of pcs.values()) {
        if (entry.pc.connectionState !== "connected") continue;
        try {
          var s = await sample(entry);
          judge(entry, s);
          samples.push(s);
        } catch (e) {
          /* a connection closed meanwhile */
        }
      }
      if (samples.length) send({ type: "stats", samples: samples.slice(0, 20) });
    }

    T.inboundVideo = async function () {
      var out = {};
      for (var entry of pcs.values()) {
        var report = await entry.pc.getStats();
        var stats = new Map();
        report.forEach(function (s) { stats.set(s.id, s); });
        var video = { framesDecoded: 0, bytesReceived: 0 };
        var pair = null;
        stats.forEach(function (s) {
          if (s.type === "inbound-rtp" && s.kind === "video") {
            video.framesDecoded += s.framesDecoded || 0;
            video.bytesReceived += s.bytesReceived || 0;
          }
          if (s.type === "transport" && s.selectedCandidatePairId) {
            var p = stats.get(s.selectedCandidatePairId);
            var l = p && stats.get(p.localCandidateId);
            var r = p && stats.get(p.remoteCandidateId);
            pair = { local: l ? l.candidateType : null, remote: r ? r.candidateType : null };
          }
        });
        out[entry.id] = {
          role: entry.info.role,
          name: entry.info.name,
          connectionState: entry.pc.connectionState,
          framesDecoded: video.framesDecoded,
          bytesReceived: video.bytesReceived,
          pair: pair,
          pairType: pair ? (pair.local === "relay" || pair.remote === "relay" ? "relay" : pair.local) : null,
        };
      }
      return out;
    };

    // -- the page -----------------------------------------------------------------------------
    function focusHeading() {
      var h = byId("visit-heading");
      if (h) h.focus();
    }

    function renderGuests(guests) {
      var list = byId("guest-list");
      if (!list || !guests) return;
      list.textContent = "";
      guests.forEach(function (g) {
        var li = document.createElement("li");
        li.className = "guest";
        var name = document.createElement("span");
        name.className = "guest-name";
        name.textContent = g.name;
        var relation = document.createElement("span");
        relation.className = "muted";
        relation.textContent = RELATIONS[g.relation] || "Guest";
        var status = document.createElement("span");
        status.className = "guest-status";
        status.textContent = GUEST_STATUS[g.status] || g.status;
        li.appendChild(name);
        li.appendChild(document.createTextNode(" "));
        li.appendChild(relation);
        li.appendChild(document.createTextNode(" "));
        li.appendChild(status);
        if (role === "clinician" && g.status === "waiting" && !over()) {
          var form = document.createElement("form");
          form.className = "inline-form";
          form.method = "post";
          form.action = "/visits/" + visitId + "/guests/" + g.id + "/admit";
          form.setAttribute("data-async", "admit-guest");
          var token = document.createElement("input");
          token.type = "hidden";
          token.name = "csrf";
          token.value = csrf;
          var button = document.createElement("button");
          button.className = "button button-small";
          button.type = "submit";
          button.textContent = "Let " + g.name + " in";
          form.appendChild(token);
          form.appendChild(button);
          li.appendChild(form);
        }
        list.appendChild(li);
      });
    }

    function render() {
      var v = T.visit || {};
      var isOver = over();
      byId("over").hidden = !isOver;
      byId("waiting").hidden = isOver || T.admitted;
      byId("call").hidden = isOver || !T.admitted;
      var status = byId("visit-status");
      var overTitle = byId("over-title");
      var overMessage = byId("over-message");
      if (T.state === "cancelled") {
        overTitle.textContent = "This visit was cancelled";
        overMessage.textContent = "This visit was cancelled, so the waiting room is closed. Your appointments page shows what happens next; book a new visit if you still need one.";
        status.textContent = "This visit was cancelled.";
      } else if (T.state === "ended") {
        overTitle.textContent = "The visit has ended";
        overMessage.textContent = "The visit has ended. Thank you.";
        status.textContent = "The visit has ended.";
      } else if (T.admitted) {
        status.textContent = T.state === "reconnecting" ? "In the call: reconnecting…" : "In the call.";
      } else {
        status.textContent = role === "clinician" ? "The patient is in the waiting room." : "You are checked in. The clinician will let you in.";
      }
      if (isOver) {
        var link = byId("over-link");
        var href = role === "clinician" ? "/visits/" + visitId + "/record" : role === "patient" ? "/appointments/" + visitId : null;
        if (link && href) {
          link.href = href;
          link.textContent = role === "clinician" ? "See the visit's record" : "Back to the appointment";
          link.hidden = false;
        }
      }
      var wait = byId("wait");
      if (wait && typeof v.wait_minutes === "number") {
        wait.textContent = v.wait_minutes === 0 ? "Any moment now." : v.wait_minutes === 1 ? "About 1 minute." : "About " + v.wait_minutes + " minutes.";
      }
      var admit = byId("admit-form");
      if (admit) admit.hidden = T.state !== "waiting";
      var end = byId("end");
      if (end) end.hidden = isOver;
      var invite = document.querySelector("details.invite");
      if (invite && isOver) invite.hidden = true;
      if (v.guests) renderGuests(v.guests);
      if (typeof v.location_text === "string" && byId("location-text")) byId("location-text").textContent = v.location_text;
    }

    function teardown() {
      closeAll();
      if (local) local.getTracks().forEach(function (t) { t.stop(); });
      local = null;
      mediaReady = null;
    }

    async function onMessage(m) {
      switch (m.type) {
        case "welcome": {
          var previous = T.you && T.you.peer;
          T.you = m.you;
          iceConfig = { iceServers: m.ice_servers || [], iceTransportPolicy: m.ice_transport_policy === "relay" ? "relay" : "all" };
          backoff = 1000;
          failures = 0;
          // A new connection is a new peer id: the others rebuild their side, so do we.
          if (previous && previous !== m.you.peer) closeAll();
          break;
        }
        case "state": {
          T.visit = m.visit;
          T.state = m.visit.state;
          T.admitted = !!m.admitted;
          render();
          if (typeof m.visit.audio_only === "boolean" && m.visit.audio_only !== T.audioOnly) {
            await applyAudioOnly(m.visit.audio_only);
          }
          if (over()) {
            closedForGood = true;
            teardown();
            if (ws) ws.close();
          }
          if (T.state !== lastState && over()) focusHeading();
          if (T.admitted !== lastAdmitted) {
            focusHeading();
            await reconcile();
          }
          lastAdmitted = T.admitted;
          lastState = T.state;
          break;
        }
        case "peers":
          T.peers = m.peers || [];
          await reconcile();
          break;
        case "signal":
          await onSignal(m.from, m.data || {});
          break;
        case "chat":
          addChat(m);
          break;
        case "error":
          log("refused: " + m.code + " " + m.message);
          break;
        case "replaced":
          closedForGood = true;
          teardown();
          T.state = "replaced";
          byId("call").hidden = true;
          byId("waiting").hidden = true;
          byId("over").hidden = false;
          byId("over-title").textContent = "Open in another window";
          byId("over-message").textContent = m.message || "You opened this visit in another window; this one is closed.";
          byId("visit-status").textContent = "This window is closed: the visit is open in another one.";
          focusHeading();
          break;
        default:
          break;
      }
    }

    function addChat(m) {
      var list = byId("chat-log");
      var li = document.createElement("li");
      li.className = "chat-line";
      var who = document.createElement("span");
      who.className = "chat-who";
      who.textContent = (T.you && m.from === T.you.peer ? "You" : m.name || "Someone") + ": ";
      var text = document.createElement("span");
      text.textContent = m.text;
      li.appendChild(who);
      li.appendChild(text);
      list.appendChild(li);
      list.scrollTop = list.scrollHeight;
    }

    // After failed attempts, ask the page itself: a visit that is over, or a link that no longer
    // works, is shown by reloading it.
    async function checkPage() {
      try {
        var response = await fetch(location.pathname, { credentials: "same-origin", redirect: "manual" });
        if (response.status >= 400 || response.type === "opaqueredirect") location.reload();
      } catch (e) {
        /* offline: keep trying */
      }
    }

    function connect() {
      var socket = new WebSocket(wsUrl("/api/v1/visits/" + visitId + "/live"));
      ws = socket;
      socket.onmessage = function (event) {
        var message;
        try {
          message = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        queue = queue.then(function () { return onMessage(message); }).catch(function (err) { log("error " + err); });
      };
      socket.onclose = function () {
        if (ws === socket) ws = null;
        if (closedForGood) return;
        failures += 1;
        note("Connection to the visit lost: reconnecting…");
        if (failures >= 3) checkPage();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 15000);
      };
    }

    // Controls.
    byId("toggle-mute").addEventListener("click", function () {
      muted = !muted;
      if (local) local.getAudioTracks().forEach(function (t) { t.enabled = !muted; });
      this.setAttribute("aria-pressed", muted ? "true" : "false");
      this.textContent = muted ? "Unmute" : "Mute";
    });
    byId("toggle-camera").addEventListener("click", function () {
      cameraOff = !cameraOff;
      if (local) local.getVideoTracks().forEach(function (t) { t.enabled = !cameraOff; });
      this.setAttribute("aria-pressed", cameraOff ? "true" : "false");
      this.textContent = cameraOff ? "Turn camera on" : "Turn camera off";
    });
    function switchAudio(on) {
      send({ type: "media", audio_only: on });
      return applyAudioOnly(on);
    }
    byId("toggle-audio-only").addEventListener("click", function () {
      switchAudio(!T.audioOnly);
    });
    byId("quality-audio").addEventListener("click", function () {
      switchAudio(true);
    });
    byId("quality-dismiss").addEventListener("click", function () {
      promptDismissed = true;
      byId("quality-prompt").hidden = true;
    });
    T.setAudioOnly = switchAudio;
    byId("chat-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var input = byId("chat-text");
      var text = input.value.trim();
      if (!text) return;
      send({ type: "chat", text: text });
      input.value = "";
    });

    // Forms of the page, sent in the background so that the call goes on.
    root.addEventListener("submit", async function (e) {
      var form = e.target;
      var kind = form.getAttribute("data-async");
      if (!kind) return;
      e.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      var old = form.querySelector(".form-problem");
      if (old) old.parentNode.removeChild(old);
      try {
        var result = await sendForm(form);
        if (!result.ok) throw new Error(errorText(result.doc));
        if (kind === "invite") {
          var box = result.doc && result.doc.getElementById("invite-link-box");
          var current = byId("invite-link-box");
          if (box) {
            var imported = document.importNode(box, true);
            if (current) current.parentNode.replaceChild(imported, current);
            else form.closest("details").parentNode.insertBefore(imported, form.closest("details"));
            var input = byId("invite-link");
            if (input) input.focus();
          }
          form.reset();
        } else if (kind === "emergency") {
          form.reset();
          var details = form.closest("details");
          if (details) details.open = false;
          note("Emergency recorded. The site's staff have been alerted.");
          byId("visit-status").textContent = "Emergency recorded. The site's staff have been alerted.";
        }
      } catch (err) {
        var p = document.createElement("p");
        p.className = "field-error form-problem";
        p.setAttribute("role", "alert");
        p.textContent = err.message;
        form.appendChild(p);
      } finally {
        if (button) button.disabled = false;
      }
    });

    window.addEventListener("pagehide", function () {
      closedForGood = true;
      if (ws) ws.close();
    });

    render();
    if (!over()) {
      connect();
      setInterval(function () { send({ type: "ping" }); }, 25000);
      setInterval(function () { reportStats().catch(function () {}); }, 10000);
    }
  }

  // ------------------------------------------------------------------------------------------
  // The staff waiting room: re-read when the staff WebSocket reports a queue change or an alert.
  function staffWaitingRoom(root) {
    var status = byId("live-status");
    var W = (window.telemedWaitingRoom = { connected: false, refreshes: 0 });
    var timer = null;
    var backoff = 1000;
    var failures = 0;
    var fallback = null;

    async function refresh() {
      timer = null;
      try {
        var response = await fetch(location.href, { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) return;
        var doc = new DOMParser().parseFromString(await response.text(), "text/html");
        var fresh = doc.getElementById("waiting-room-live");
        var current = byId("waiting-room-live");
        if (fresh && current && current.contains(document.activeElement) && document.activeElement !== document.body) {
          // Someone is using a control of the list: try again shortly rather than pull it away.
          if (!timer) timer = setTimeout(refresh, 2000);
          return;
        }
        if (fresh && current) current.parentNode.replaceChild(document.importNode(fresh, true), current);
        W.refreshes += 1;
      } catch (e) {
        /* next change tries again */
      }
    }

    function soon() {
      if (!timer) timer = setTimeout(refresh, 200);
    }

    function connect() {
      var socket = new WebSocket(wsUrl(root.getAttribute("data-live-url")));
      socket.onopen = function () {
        W.connected = true;
        backoff = 1000;
        failures = 0;
        if (fallback) {
          clearInterval(fallback);
          fallback = null;
        }
        status.textContent = "Live: this page updates itself when a patient checks in or an alert is raised.";
        soon();
      };
      socket.onmessage = function (event) {
        try {
          var m = JSON.parse(event.data);
          if (m.type === "queue" || m.type === "alert") soon();
        } catch (e) {
          /* ignored */
        }
      };
      socket.onclose = function () {
        W.connected = false;
        failures += 1;
        status.textContent = "Reconnecting to live updates…";
        if (failures >= 3 && !fallback) fallback = setInterval(refresh, 15000);
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 15000);
      };
      W.socket = socket;
    }
    connect();
    setInterval(function () {
      if (W.socket && W.socket.readyState === WebSocket.OPEN) W.socket.send(JSON.stringify({ type: "ping" }));
    }, 25000);
  }

  function start() {
    var check = byId("device-check");
    if (check) deviceCheck(check);
    var visit = byId("visit");
    if (visit) liveVisit(visit);
    var room = byId("waiting-room");
    if (room) staffWaitingRoom(room);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

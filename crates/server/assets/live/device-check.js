// The device check of the check-in page: the camera's preview, the microphone's level, and the
// connection (the round trip to the server, and whether WebRTC can gather candidates with the
// ICE servers of this visit). What it found is kept in `window.telemedDeviceCheck`.

import { byId } from "./common.js";

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 } };

function say(id, text) {
  byId(id).textContent = text;
  byId("device-status").textContent = text;
}

async function getMedia() {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: VIDEO });
  } catch (e) {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e2) {
      return null;
    }
  }
}

function showCamera(stream, result) {
  const preview = byId("device-preview");
  if (!stream.getVideoTracks().length) {
    result.camera = false;
    say("device-camera", "No camera found: the visit can go on by voice.");
    return;
  }
  preview.srcObject = stream;
  preview.onloadedmetadata = function () {
    result.camera = true;
    say("device-camera", "Working (" + preview.videoWidth + "×" + preview.videoHeight + ").");
  };
}

// Shows the microphone's level until the stream stops; "working" once something is heard.
function listen(stream, result) {
  const track = stream.getAudioTracks()[0];
  if (!track) {
    result.microphone = false;
    say("device-microphone", "No microphone found.");
    return;
  }
  const Ctx = window.AudioContext || window.webkitAudioContext;
  const audio = new Ctx();
  const analyser = audio.createAnalyser();
  analyser.fftSize = 512;
  audio.createMediaStreamSource(stream).connect(analyser);
  const data = new Float32Array(analyser.fftSize);
  const meter = byId("device-level");
  let heard = false;
  say("device-microphone", "Listening: say something.");
  function tick() {
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
    const level = Math.min(1, Math.sqrt(sum / data.length) * 4);
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

// The median of three round trips to the server, in ms; null if it cannot be reached.
async function roundTrip() {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    try {
      await fetch("/healthz", { cache: "no-store" });
      times.push(performance.now() - started);
    } catch (e) {
      /* counted as missing */
    }
  }
  if (!times.length) return null;
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)]);
}

// The kinds of ICE candidate this browser gathers (host, srflx, relay), within 4 s.
async function candidateTypes(iceServers, policy) {
  const types = {};
  try {
    const pc = new RTCPeerConnection({ iceServers: iceServers, iceTransportPolicy: policy });
    pc.createDataChannel("check");
    await new Promise(function (resolve) {
      const timer = setTimeout(resolve, 4000);
      pc.onicecandidate = function (e) {
        if (!e.candidate) {
          clearTimeout(timer);
          resolve();
        } else if (e.candidate.type) {
          types[e.candidate.type] = true;
        }
      };
      pc.createOffer().then((o) => pc.setLocalDescription(o)).catch(resolve);
    });
    pc.close();
  } catch (e) {
    /* no WebRTC: reported by the caller */
  }
  return Object.keys(types);
}

async function checkConnection(section, result) {
  say("device-connection", "Checking…");
  const rtt = await roundTrip();
  if (rtt === null) {
    result.connection = false;
    say("device-connection", "We could not reach the server. Check your internet connection.");
    return;
  }
  let iceServers = [];
  try {
    iceServers = JSON.parse(section.getAttribute("data-ice-servers") || "[]");
  } catch (e) {
    iceServers = [];
  }
  const policy = section.getAttribute("data-ice-policy") === "relay" ? "relay" : "all";
  const types = await candidateTypes(iceServers, policy);
  const ok = policy === "relay" ? types.includes("relay") : types.length > 0;
  result.connection = ok;
  result.roundTripMs = rtt;
  result.candidateTypes = types;
  if (!ok) {
    say("device-connection", "The video connection could not be prepared (" + rtt + " ms to the server). The call may not connect; try another network, or the visit can go on by phone.");
  } else if (rtt > 600) {
    say("device-connection", "Slow (" + rtt + " ms to the server): if video stutters, switch to audio only during the visit.");
  } else {
    say("device-connection", "Good (" + rtt + " ms to the server).");
  }
}

function deviceCheck(section) {
  section.hidden = false;
  const result = (window.telemedDeviceCheck = { camera: null, microphone: null, connection: null });
  let stream = null;
  const start = byId("device-start");
  start.addEventListener("click", async function () {
    start.disabled = true;
    stream = await getMedia();
    if (!stream) {
      result.camera = result.microphone = false;
      say("device-camera", "Not available: the browser was not allowed to use it, or there is none.");
      say("device-microphone", "Not available.");
      start.disabled = false;
      return;
    }
    showCamera(stream, result);
    listen(stream, result);
  });
  checkConnection(section, result);
  const form = section.closest("form");
  if (form) {
    form.addEventListener("submit", function () {
      if (stream) stream.getTracks().forEach((t) => t.stop());
    });
  }
}

const section = byId("device-check");
if (section) deviceCheck(section);

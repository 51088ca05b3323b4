// How well the call goes, from `RTCPeerConnection.getStats()`: each connection's round trip,
// packet loss and bitrate since its last report (sent to the server every 10 s for the visit's
// record), and the advice to switch to audio only after two poor reports in a row.

const POOR_LOSS_PCT = 8;
const POOR_ROUND_TRIP_MS = 600;

function byIdMap(report) {
  const stats = new Map();
  report.forEach((s) => stats.set(s.id, s));
  return stats;
}

// One quality report of a connection, in the units and bounds the server accepts.
export async function sample(entry) {
  const stats = byIdMap(await entry.pc.getStats());
  let rtt = null;
  let lost = 0;
  let received = 0;
  let bytes = 0;
  let frames = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      if (pair && typeof pair.currentRoundTripTime === "number") rtt = pair.currentRoundTripTime * 1000;
    }
    if (s.type === "inbound-rtp") {
      lost += Math.max(0, s.packetsLost || 0);
      received += s.packetsReceived || 0;
      bytes += s.bytesReceived || 0;
      if (s.kind === "video") frames = (frames || 0) + (s.framesDecoded || 0);
    }
  });
  const now = performance.now();
  const prev = entry.prev;
  const dLost = prev ? lost - prev.lost : lost;
  const dReceived = prev ? received - prev.received : received;
  const loss = dLost + dReceived > 0 ? Math.min(100, Math.max(0, (100 * dLost) / (dLost + dReceived))) : null;
  const kbps = prev && now > prev.t ? Math.min(1000000, Math.max(0, ((bytes - prev.bytes) * 8) / (now - prev.t))) : null;
  entry.prev = { lost: lost, received: received, bytes: bytes, t: now };
  return {
    round_trip_ms: rtt === null ? null : Math.min(60000, Math.round(rtt * 10) / 10),
    packet_loss_pct: loss === null ? null : Math.round(loss * 100) / 100,
    bitrate_kbps: kbps === null ? null : Math.round(kbps * 10) / 10,
    frames_decoded: frames,
  };
}

// Whether this report makes two poor ones in a row for the connection.
export function poorTwiceInARow(entry, s) {
  const poor = (s.packet_loss_pct !== null && s.packet_loss_pct > POOR_LOSS_PCT)
    || (s.round_trip_ms !== null && s.round_trip_ms > POOR_ROUND_TRIP_MS);
  entry.poor = poor ? entry.poor + 1 : 0;
  return entry.poor >= 2;
}

// The reports of every connected connection (at most 20), each judged by `judge(entry, s)`.
export async function reports(mesh, judge) {
  const samples = [];
  for (const entry of mesh.entries()) {
    if (entry.pc.connectionState !== "connected") continue;
    try {
      const s = await sample(entry);
      judge(entry, s);
      samples.push(s);
    } catch (e) {
      /* a connection closed meanwhile */
    }
  }
  return samples.slice(0, 20);
}

// Per remote peer: decoded video frames, bytes, the selected candidate pair.
export async function inboundVideo(mesh) {
  const out = {};
  for (const entry of mesh.entries()) {
    const stats = byIdMap(await entry.pc.getStats());
    const video = { framesDecoded: 0, bytesReceived: 0 };
    let pair = null;
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        video.framesDecoded += s.framesDecoded || 0;
        video.bytesReceived += s.bytesReceived || 0;
      }
      if (s.type === "transport" && s.selectedCandidatePairId) {
        const p = stats.get(s.selectedCandidatePairId);
        const l = p && stats.get(p.localCandidateId);
        const r = p && stats.get(p.remoteCandidateId);
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
}

// The call's peer connections: one RTCPeerConnection per other participant, a mesh of at most
// four browsers. For each pair, the participant whose peer id sorts first makes the offers (the
// first one, and each ICE restart) and the other answers, so offers never cross. A participant
// who comes back with a new peer id gets a fresh connection on both sides.

export class Mesh {
  // `media`: LocalMedia; `send(message)`: to the server; `tiles`: addTile(entry), label(entry),
  // removeTile(entry); `events`: connected(), unstable(firstTime), holdOver(); `log(text)`.
  constructor({ media, send, tiles, events, log }) {
    this.media = media;
    this.send = send;
    this.tiles = tiles;
    this.events = events;
    this.log = log;
    this.pcs = new Map();
    this.you = null;
    this.iceConfig = { iceServers: [], iceTransportPolicy: "all" };
    this.holdUntil = 0;
    this.holdTimer = null;
  }

  // For `ms`, a connection whose participant is missing from the list is kept while it still
  // carries media (their signaling may be on its way back); then `events.holdOver()`.
  holdFor(ms) {
    this.holdUntil = Date.now() + ms;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      this.events.holdOver();
    }, ms);
  }

  anyConnected() {
    for (const entry of this.pcs.values()) if (entry.pc.connectionState === "connected") return true;
    return false;
  }

  entries() {
    return this.pcs.values();
  }

  get size() {
    return this.pcs.size;
  }

  *videoSenders() {
    for (const entry of this.pcs.values()) {
      const t = entry.pc.getTransceivers().find((x) => x.receiver && x.receiver.track && x.receiver.track.kind === "video");
      if (t) yield t.sender;
    }
  }

  create(info) {
    const id = info.peer;
    const pc = new RTCPeerConnection(this.iceConfig);
    const entry = {
      id: id,
      info: info,
      pc: pc,
      offerer: this.you !== null && this.you.peer < id,
      pending: [],
      answered: false,
      dropped: false,
      restartWanted: false,
      prev: null,
      poor: 0,
      stream: new MediaStream(),
    };
    this.pcs.set(id, entry);
    this.tiles.addTile(entry);
    if (entry.offerer) {
      for (const kind of ["audio", "video"]) {
        pc.addTransceiver(this.media.track(kind) || kind, { direction: "sendrecv", streams: [this.media.stream] });
      }
    }
    pc.onicecandidate = (e) => {
      if (e.candidate && this.pcs.get(id) === entry) {
        this.send({ type: "signal", to: id, data: { candidate: e.candidate.toJSON() } });
      }
    };
    pc.ontrack = (e) => {
      entry.stream.addTrack(e.track);
      entry.video.srcObject = entry.stream;
      const play = entry.video.play();
      if (play && play.catch) play.catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      this.log("pc " + id + " " + s);
      if (this.pcs.get(id) !== entry) return;
      if (s === "connected") {
        entry.dropped = false;
        this.events.connected();
      } else if (s === "disconnected" || s === "failed") {
        this.events.unstable(!entry.dropped);
        entry.dropped = true;
        if (entry.offerer) this.offer(entry, true);
      }
    };
    pc.onsignalingstatechange = () => {
      if (pc.signalingState === "stable" && entry.restartWanted) {
        entry.restartWanted = false;
        this.offer(entry, true);
      }
    };
    return entry;
  }

  async offer(entry, iceRestart) {
    const pc = entry.pc;
    if (pc.signalingState !== "stable") {
      entry.restartWanted = iceRestart;
      return;
    }
    const description = await pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
    await pc.setLocalDescription(description);
    this.send({ type: "signal", to: entry.id, data: { description: pc.localDescription } });
  }

  close(id) {
    const entry = this.pcs.get(id);
    if (!entry) return;
    this.pcs.delete(id);
    entry.pc.onicecandidate = null;
    entry.pc.onconnectionstatechange = null;
    entry.pc.close();
    this.tiles.removeTile(entry);
  }

  closeAll() {
    Array.from(this.pcs.keys()).forEach((id) => this.close(id));
  }

  // Connections to exactly `peers` while `inCall`, none otherwise.
  async reconcile(peers, inCall, audioOnly) {
    if (!inCall || !this.you) {
      this.closeAll();
      return;
    }
    await this.media.ensure(audioOnly);
    const wanted = new Set(peers.map((p) => p.peer));
    const holding = Date.now() < this.holdUntil;
    for (const [id, entry] of Array.from(this.pcs)) {
      if (wanted.has(id)) continue;
      if (holding && entry.pc.connectionState === "connected") continue;
      this.close(id);
    }
    for (const p of peers) {
      let entry = this.pcs.get(p.peer);
      if (entry) {
        entry.info = p;
        this.tiles.label(entry);
        continue;
      }
      entry = this.create(p);
      if (entry.offerer) await this.offer(entry, false);
    }
  }

  // A description or candidate from another participant.
  async onSignal(from, data, peers, audioOnly) {
    let entry = this.pcs.get(from);
    if (!entry) {
      await this.media.ensure(audioOnly);
      entry = this.create(peers.find((p) => p.peer === from) || { peer: from, role: "", name: "" });
    }
    const pc = entry.pc;
    if (data.description) {
      const d = data.description;
      if (d.type === "offer") {
        if (pc.signalingState !== "stable") await pc.setLocalDescription({ type: "rollback" });
        await pc.setRemoteDescription(d);
        if (!entry.answered) {
          // Send on every line the offer opened, with whatever this browser has.
          for (const t of pc.getTransceivers()) {
            const kind = t.receiver.track.kind;
            t.direction = "sendrecv";
            const mine = this.media.track(kind);
            if (t.sender.track !== mine) await t.sender.replaceTrack(mine);
            if (this.media.stream && t.sender.setStreams) t.sender.setStreams(this.media.stream);
          }
          entry.answered = true;
        }
        await pc.setLocalDescription(await pc.createAnswer());
        this.send({ type: "signal", to: from, data: { description: pc.localDescription } });
      } else if (d.type === "answer") {
        if (pc.signalingState === "have-local-offer") await pc.setRemoteDescription(d);
      }
      const waiting = entry.pending.splice(0);
      for (const c of waiting) await pc.addIceCandidate(c).catch(() => {});
    } else if (data.candidate) {
      if (!pc.remoteDescription) entry.pending.push(data.candidate);
      else await pc.addIceCandidate(data.candidate).catch(() => {});
    }
  }
}

// This browser's camera and microphone in the call: taken once (falling back to the microphone
// alone, then to nothing), muted, camera off, and audio only, which releases the camera and
// swaps the video senders' track for none, so that nothing is renegotiated.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 } };

export class LocalMedia {
  // `preview` is the page's own video element; `note(text)` tells the participant.
  constructor(preview, note) {
    this.preview = preview;
    this.note = note;
    this.stream = null;
    this.ready = null;
    this.muted = false;
    this.cameraOff = false;
  }

  // The stream, once (with video unless the call is audio only).
  ensure(audioOnly) {
    if (this.ready) return this.ready;
    this.ready = (async () => {
      const video = audioOnly ? false : VIDEO;
      try {
        this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: video });
      } catch (e) {
        try {
          this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
          if (video) this.note("Your camera is not available: the others hear you but cannot see you.");
        } catch (e2) {
          this.stream = new MediaStream();
          this.note("No camera or microphone is available: you can see and hear the others, they cannot hear you.");
        }
      }
      this.stream.getAudioTracks().forEach((t) => { t.enabled = !this.muted; });
      this.stream.getVideoTracks().forEach((t) => { t.enabled = !this.cameraOff; });
      this.preview.srcObject = this.stream;
    })();
    return this.ready;
  }

  track(kind) {
    if (!this.stream) return null;
    const list = kind === "video" ? this.stream.getVideoTracks() : this.stream.getAudioTracks();
    return list.length ? list[0] : null;
  }

  setMuted(on) {
    this.muted = on;
    if (this.stream) this.stream.getAudioTracks().forEach((t) => { t.enabled = !on; });
  }

  setCameraOff(on) {
    this.cameraOff = on;
    if (this.stream) this.stream.getVideoTracks().forEach((t) => { t.enabled = !on; });
  }

  // Audio only (the camera released) or back to video, on every connection's video sender.
  async setAudioOnly(on, videoSenders) {
    if (!this.ready) return;
    await this.ready;
    if (on) {
      this.stream.getVideoTracks().forEach((t) => {
        t.stop();
        this.stream.removeTrack(t);
      });
      for (const sender of videoSenders()) await sender.replaceTrack(null);
    } else if (!this.track("video")) {
      try {
        const got = await navigator.mediaDevices.getUserMedia({ video: VIDEO });
        const t = got.getVideoTracks()[0];
        t.enabled = !this.cameraOff;
        this.stream.addTrack(t);
        for (const sender of videoSenders()) await sender.replaceTrack(t);
      } catch (err) {
        this.note("Your camera is not available: the call goes on by voice.");
      }
    }
    this.preview.srcObject = this.stream;
  }

  // Releases the camera and microphone (the visit is over, or open elsewhere).
  stop() {
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.ready = null;
  }
}

/* The host console's publisher (templates/media/_publisher.html).
 *
 * Camera and microphone picker with a local preview; "Go live" publishes through the media
 * signalling socket /ws/media/<m>/<room>/ (non-trickle offer, role "publish"). VP8 is pinned
 * with setCodecPreferences (the relay forwards what it gets; browsers all decode VP8). The
 * camera is captured at up to 1080p and sent at 720p (sender parameters: scaleResolutionDownBy,
 * maxBitrate, maxFramerate); when the uplink has room for it for a while (the browser's
 * availableOutgoingBitrate, no bandwidth or CPU limitation) the sender steps up to 1080p,
 * and back down when it does not. Live stats: viewers and loss from the relay's `stats`
 * frames, resolution, frame rate and bitrate from getStats. A dropped socket or connection
 * re-publishes by itself: within the relay's grace period viewers resume without a
 * renegotiation. "End show" leaves and ends the room through the room API.
 *
 * The page may call `window.liveshopPublisher.goLive()` / `.endShow()` and listen for the
 * bubbling `liveshop:publisher-state` event ({detail: {state}}: idle, preview, connecting,
 * live, reconnecting, ended). For tests it exposes `state`, `pc`, `sending` ("720p"/"1080p").
 */
(function () {
  "use strict";

  var GATHER_CAP_MS = 3000;
  var P720 = { height: 720, maxBitrate: 2500000 };
  var P1080 = { height: 1080, maxBitrate: 4500000 };
  var UP_NEEDS_BPS = 5500000; // estimated uplink to try 1080p (its bitrate plus headroom)
  var UP_AFTER_TICKS = 5; // ... sustained for 5 ticks of 2 s
  var DOWN_BELOW_BPS = 4000000;
  var DOWN_AFTER_TICKS = 2;
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 8000;

  function wsUrl(merchant, room) {
    var scheme = location.protocol === "https:" ? "wss" : "ws";
    return scheme + "://" + location.host + "/ws/media/" + encodeURIComponent(merchant) + "/" +
      encodeURIComponent(room) + "/";
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var done = function () {
        if (pc.iceGatheringState === "complete") {
          pc.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, GATHER_CAP_MS);
    });
  }

  function label(el, name) {
    return el.dataset["label" + name.replace(/(^|-)(\w)/g, function (_, __, c) { return c.toUpperCase(); })] || name;
  }

  function Publisher(el) {
    this.el = el;
    this.merchant = el.dataset.merchant;
    this.room = el.dataset.room;
    this.preview = el.querySelector("[data-role=preview]");
    this.stateBadge = el.querySelector("[data-role=state]");
    this.problem = el.querySelector("[data-role=problem]");
    this.cameraSelect = el.querySelector("[data-role=camera]");
    this.micSelect = el.querySelector("[data-role=microphone]");
    this.goLiveButton = el.querySelector("[data-role=go-live]");
    this.endButton = el.querySelector("[data-role=end]");
    this.csrf = (el.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
    this.state = "";
    this.ws = null;
    this.pc = null;
    this.stream = null;
    this.iceServers = [];
    this.me = null;
    this.canPublish = false;
    this.wantLive = false; // the host pressed Go live and has not ended
    this.ended = el.dataset.status === "ended";
    this.sending = "720p";
    this.upTicks = 0;
    this.downTicks = 0;
    this.lastOut = null;
    this.backoff = BACKOFF_MIN_MS;
    this.retryTimer = null;
    var self = this;
    this.goLiveButton.addEventListener("click", function () { self.goLive(); });
    this.endButton.addEventListener("click", function () { self.endShow(); });
    this.cameraSelect.addEventListener("change", function () { self.capture(); });
    this.micSelect.addEventListener("change", function () { self.capture(); });
    setInterval(function () { self.tick(); }, 2000);
    this.keys = new StreamKeys(el, this.csrf);
  }

  Publisher.prototype.setState = function (state) {
    if (this.state !== state) {
      this.state = state;
      this.el.dataset.state = state;
      this.stateBadge.textContent = label(this.el, state);
      this.stateBadge.classList.toggle("badge-live", state === "live");
      // The console around this panel may follow along (rooms owns the page).
      this.el.dispatchEvent(new CustomEvent("liveshop:publisher-state", { bubbles: true, detail: { state: state } }));
    }
    this.goLiveButton.hidden = this.wantLive || this.ended;
    this.endButton.hidden = !this.wantLive || this.ended;
    this.goLiveButton.disabled = !this.canPublish || !this.stream;
  };

  Publisher.prototype.say = function (text) {
    this.problem.textContent = text || "";
    this.problem.hidden = !text;
  };

  Publisher.prototype.start = function () {
    if (this.ended) {
      this.setState("ended");
      return;
    }
    this.setState("idle");
    this.connect();
    this.capture();
  };

  // --- camera and microphone ---------------------------------------------------------

  Publisher.prototype.capture = function () {
    var self = this;
    var camera = this.cameraSelect.value;
    var mic = this.micSelect.value;
    var constraints = {
      video: {
        width: { ideal: 1920 }, height: { ideal: 1080 }, frameRate: { ideal: 30, max: 30 },
        deviceId: camera ? { exact: camera } : undefined,
      },
      audio: {
        echoCancellation: true, noiseSuppression: true,
        deviceId: mic ? { exact: mic } : undefined,
      },
    };
    return navigator.mediaDevices.getUserMedia(constraints).then(function (stream) {
      var old = self.stream;
      self.stream = stream;
      var video = stream.getVideoTracks()[0];
      if (video && "contentHint" in video) video.contentHint = "motion";
      self.preview.srcObject = stream;
      self.preview.play().catch(function () { /* muted preview autoplays */ });
      if (self.pc) self.replaceTracks();
      if (old && old !== stream) old.getTracks().forEach(function (t) { t.stop(); });
      self.say("");
      if (self.state === "idle") self.setState("preview");
      else self.setState(self.state); // refresh the buttons
      return self.listDevices();
    }).catch(function (err) {
      if (window.console) console.warn("liveshop publisher: no camera", err);
      self.say(label(self.el, "no-camera"));
    });
  };

  Publisher.prototype.listDevices = function () {
    var self = this;
    return navigator.mediaDevices.enumerateDevices().then(function (devices) {
      var fill = function (select, kind, current) {
        var chosen = select.value || current;
        select.textContent = "";
        devices.filter(function (d) { return d.kind === kind; }).forEach(function (d, i) {
          var option = document.createElement("option");
          option.value = d.deviceId;
          option.textContent = d.label || kind + " " + (i + 1);
          if (d.deviceId === chosen) option.selected = true;
          select.appendChild(option);
        });
      };
      var video = self.stream && self.stream.getVideoTracks()[0];
      var audio = self.stream && self.stream.getAudioTracks()[0];
      fill(self.cameraSelect, "videoinput", video && video.getSettings().deviceId);
      fill(self.micSelect, "audioinput", audio && audio.getSettings().deviceId);
    });
  };

  Publisher.prototype.captureHeight = function () {
    var video = this.stream && this.stream.getVideoTracks()[0];
    return (video && video.getSettings().height) || 720;
  };

  Publisher.prototype.replaceTracks = function () {
    var self = this;
    this.pc.getSenders().forEach(function (sender) {
      if (!sender.track) return;
      var next = sender.track.kind === "video" ? self.stream.getVideoTracks()[0] : self.stream.getAudioTracks()[0];
      if (next) sender.replaceTrack(next).then(function () { self.applyQuality(self.sending); });
    });
  };

  // --- signalling ----------------------------------------------------------------------

  Publisher.prototype.connect = function () {
    var self = this;
    var ws = new WebSocket(wsUrl(this.merchant, this.room));
    this.ws = ws;
    ws.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      self.onFrame(frame);
    };
    ws.onclose = function () {
      if (self.ws !== ws) return;
      self.ws = null;
      if (self.ended) return;
      // Our peer connection is left alone: the relay keeps us "away" for its grace period,
      // and a new publish offer on the new socket takes our feeds over.
      if (self.wantLive) self.setState("reconnecting");
      self.retry(function () { self.connect(); });
    };
  };

  Publisher.prototype.send = function (frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  };

  Publisher.prototype.retry = function (action) {
    var self = this;
    clearTimeout(this.retryTimer);
    var delay = this.backoff * (0.75 + Math.random() / 2);
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
    this.retryTimer = setTimeout(function () { if (!self.ended) action(); }, delay);
  };

  Publisher.prototype.onFrame = function (frame) {
    switch (frame.type) {
      case "hello":
        this.iceServers = frame.ice_servers || [];
        this.me = frame.you;
        this.canPublish = !!frame.can_publish;
        if (frame.room && frame.room.status === "ended") { this.ended = true; this.setState("ended"); return; }
        if (!this.canPublish) this.say(label(this.el, "not-host"));
        this.setState(this.state);
        if (this.wantLive) this.publish(); // back after a dropped socket: publish again
        break;
      case "answer":
        if (frame.role !== "publish" || !this.pc) return;
        var pc = this.pc;
        pc.setRemoteDescription({ type: "answer", sdp: frame.sdp }).catch(function (err) {
          if (window.console) console.warn("liveshop publisher: answer refused", err);
        });
        break;
      case "state":
        if (frame.role === "publish" && frame.state === "connected") {
          this.backoff = BACKOFF_MIN_MS;
          this.setState("live");
        }
        break;
      case "closed":
        if (frame.role === "publish" && this.wantLive && !this.ended) {
          this.setState("reconnecting");
          var self = this;
          this.retry(function () { self.publish(); });
        }
        break;
      case "stats":
        this.showRelayStats(frame);
        break;
      case "error":
        this.say(frame.message || frame.code);
        if (frame.code === "room_ended") { this.ended = true; this.stop(); this.setState("ended"); }
        else if (this.pc && this.pc.connectionState !== "connected" && frame.code !== "plan_limit") {
          // the offer was refused (busy relay, rate limit): try again shortly
          var again = this;
          if (this.wantLive) this.retry(function () { again.publish(); });
        }
        break;
    }
  };

  // --- publishing ----------------------------------------------------------------------

  Publisher.prototype.goLive = function () {
    if (!this.canPublish || !this.stream || this.ended) return;
    this.wantLive = true;
    this.say("");
    this.publish();
  };

  Publisher.prototype.publish = function () {
    var self = this;
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.stream) return;
    var old = this.pc;
    var pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.setState(old ? "reconnecting" : "connecting");
    var audio = this.stream.getAudioTracks()[0];
    var video = this.stream.getVideoTracks()[0];
    if (audio) pc.addTransceiver(audio, { direction: "sendonly", streams: [this.stream] });
    if (video) {
      var q = this.sending === "1080p" ? P1080 : P720;
      var transceiver = pc.addTransceiver(video, {
        direction: "sendonly",
        streams: [this.stream],
        sendEncodings: [{
          maxBitrate: q.maxBitrate,
          maxFramerate: 30,
          scaleResolutionDownBy: Math.max(1, this.captureHeight() / q.height),
        }],
      });
      // VP8 first: the relay forwards the publisher's codec to every viewer as it is.
      if (transceiver.setCodecPreferences && window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities) {
        var codecs = RTCRtpReceiver.getCapabilities("video").codecs;
        var vp8 = codecs.filter(function (c) { return c.mimeType.toLowerCase() === "video/vp8"; });
        var rtx = codecs.filter(function (c) { return c.mimeType.toLowerCase() === "video/rtx"; });
        if (vp8.length) transceiver.setCodecPreferences(vp8.concat(rtx));
      }
    }
    pc.onconnectionstatechange = function () {
      if (self.pc !== pc) return;
      if (pc.connectionState === "connected") self.setState("live");
      if (pc.connectionState === "failed" && self.wantLive && !self.ended) {
        self.setState("reconnecting");
        self.retry(function () { self.publish(); });
      }
    };
    if (old) {
      // Close the old connection only after the new one is offered, so there is no gap
      // in which the relay thinks we left.
      setTimeout(function () { try { old.close(); } catch (e) { /* closed */ } }, 2000);
    }
    pc.createOffer()
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return gathered(pc); })
      .then(function () {
        if (self.pc === pc) self.send({ type: "offer", role: "publish", sdp: pc.localDescription.sdp });
      })
      .catch(function (err) {
        if (window.console) console.warn("liveshop publisher: offer failed", err);
        if (self.pc === pc) self.retry(function () { self.publish(); });
      });
  };

  Publisher.prototype.applyQuality = function (mode) {
    var pc = this.pc;
    if (!pc) return Promise.resolve();
    var q = mode === "1080p" ? P1080 : P720;
    var scale = Math.max(1, this.captureHeight() / q.height);
    var self = this;
    var sender = pc.getSenders().filter(function (s) { return s.track && s.track.kind === "video"; })[0];
    if (!sender) return Promise.resolve();
    var params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) return Promise.resolve();
    params.encodings[0].maxBitrate = q.maxBitrate;
    params.encodings[0].maxFramerate = 30;
    params.encodings[0].scaleResolutionDownBy = scale;
    return sender.setParameters(params).then(function () {
      self.sending = mode;
      self.el.dataset.sending = mode;
    }).catch(function (err) {
      if (window.console) console.warn("liveshop publisher: setParameters failed", err);
    });
  };

  Publisher.prototype.stop = function () {
    if (this.pc) { try { this.pc.close(); } catch (e) { /* closed */ } }
    this.pc = null;
    if (this.stream) this.stream.getTracks().forEach(function (t) { t.stop(); });
  };

  Publisher.prototype.endShow = function () {
    var self = this;
    if (!window.confirm(label(this.el, "confirm-end"))) return;
    this.wantLive = false;
    this.ended = true;
    // The room first, then our media: viewers who see the host leave then find it ended.
    fetch(this.el.dataset.endApi, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": this.csrf, Accept: "application/json" },
    }).catch(function () { /* the media still stops; the room page shows it */ })
      .then(function () {
        self.send({ type: "leave" });
        self.stop();
        self.setState("ended");
      });
  };

  // --- stats and the 720p ⇄ 1080p step -------------------------------------------------

  Publisher.prototype.showRelayStats = function (frame) {
    var el = this.el;
    var set = function (name, value) {
      var dd = el.querySelector("[data-stat=" + name + "]");
      if (dd) dd.textContent = value;
    };
    set("viewers", String(frame.viewers));
    var me = (frame.publishers || []).filter(function (p) { return p.identity === this.me; }, this)[0];
    var video = me && me.tracks.filter(function (t) { return t.kind === "video"; })[0];
    if (video && typeof video.fraction_lost === "number") {
      set("loss", (video.fraction_lost * 100).toFixed(1) + "%");
    }
  };

  Publisher.prototype.tick = function () {
    var self = this;
    var pc = this.pc;
    if (!pc || pc.connectionState !== "connected") return;
    pc.getStats().then(function (report) {
      var out = null;
      var pair = null;
      report.forEach(function (s) {
        if (s.type === "outbound-rtp" && s.kind === "video") out = s;
        if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
      });
      if (!out) return;
      var now = out.timestamp;
      var bitrate = 0;
      if (self.lastOut && now > self.lastOut.timestamp) {
        bitrate = (8 * (out.bytesSent - self.lastOut.bytesSent) * 1000) / (now - self.lastOut.timestamp);
      }
      self.lastOut = { timestamp: now, bytesSent: out.bytesSent };
      var el = self.el;
      var set = function (name, value) {
        var dd = el.querySelector("[data-stat=" + name + "]");
        if (dd) dd.textContent = value;
      };
      if (out.frameWidth) set("resolution", out.frameWidth + "×" + out.frameHeight);
      if (out.framesPerSecond !== undefined) set("fps", String(Math.round(out.framesPerSecond)));
      if (bitrate) set("bitrate", (bitrate / 1e6).toFixed(2) + " Mbps");
      self.step(pair ? pair.availableOutgoingBitrate : 0, out.qualityLimitationReason || "none");
    }).catch(function () { /* closed under us */ });
  };

  Publisher.prototype.step = function (available, limitation) {
    if (this.captureHeight() < 1080) return; // the camera has no 1080p to give
    var constrained = limitation === "bandwidth" || limitation === "cpu";
    if (this.sending === "720p") {
      this.upTicks = available >= UP_NEEDS_BPS && !constrained ? this.upTicks + 1 : 0;
      if (this.upTicks >= UP_AFTER_TICKS) { this.upTicks = 0; this.applyQuality("1080p"); }
    } else {
      this.downTicks = (available && available < DOWN_BELOW_BPS) || constrained ? this.downTicks + 1 : 0;
      if (this.downTicks >= DOWN_AFTER_TICKS) { this.downTicks = 0; this.applyQuality("720p"); }
    }
  };

  // --- the room's stream key for OBS -----------------------------------------------------

  function StreamKeys(el, csrf) {
    this.el = el;
    this.api = el.dataset.keyApi;
    this.csrf = csrf;
    this.url = el.querySelector("[data-role=whip-url]");
    this.prefix = el.querySelector("[data-role=key-prefix]");
    this.once = el.querySelector("[data-role=key-once]");
    this.onceNote = el.querySelector("[data-role=key-once-note]");
    this.none = this.prefix.textContent;
    var self = this;
    el.querySelector("[data-role=key-new]").addEventListener("click", function () { self.make(); });
    el.querySelector("[data-role=key-revoke]").addEventListener("click", function () { self.revoke(); });
    el.querySelector("[data-role=whip]").addEventListener("toggle", function () { self.load(); }, { once: true });
  }

  StreamKeys.prototype.request = function (method) {
    return fetch(this.api, {
      method: method,
      credentials: "same-origin",
      headers: { "X-CSRFToken": this.csrf, Accept: "application/json" },
    });
  };

  StreamKeys.prototype.show = function (data) {
    this.url.textContent = data.whip_url;
    this.prefix.textContent = data.prefix ? data.prefix + "…" : this.none;
  };

  StreamKeys.prototype.load = function () {
    var self = this;
    return this.request("GET").then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) self.show(data); });
  };

  StreamKeys.prototype.make = function () {
    var self = this;
    if (this.prefix.textContent !== this.none && !window.confirm(label(this.el, "confirm-key"))) return;
    this.request("POST").then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) return;
      self.show(data);
      self.once.textContent = data.key; // shown this once; the server keeps only its hash
      self.once.hidden = false;
      self.onceNote.hidden = false;
    });
  };

  StreamKeys.prototype.revoke = function () {
    var self = this;
    this.request("DELETE").then(function () {
      self.once.hidden = true;
      self.onceNote.hidden = true;
      self.once.textContent = "";
      return self.load();
    });
  };

  function boot() {
    var el = document.querySelector("[data-media-publisher]");
    if (!el || el.liveshopPublisher) return;
    var publisher = new Publisher(el);
    el.liveshopPublisher = publisher;
    window.liveshopPublisher = publisher;
    publisher.start();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();

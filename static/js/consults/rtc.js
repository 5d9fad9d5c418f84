/* LiveShop consults: the consult socket and the call's media, shared by the shopper's call
   page, the agent's console and the supervisor's page.

   ConsultSession fetches a join token (one per connection), opens /ws/consults/<m>/<id>/,
   authenticates with it, and hands every frame to `onFrame`. Media: `startMedia()` publishes
   camera + microphone on one RTCPeerConnection (sendonly, VP8 first) and receives the other
   party on a second one (recvonly); both offers are non-trickle (candidates in the SDP). The
   relay renegotiates the receiving connection with its own `offer` when the other party's
   tracks change; we answer on one promise chain. A dropped socket reconnects with a fresh
   token and fresh peer connections within the call's grace period.
   Plain JavaScript, no framework. */
(function () {
  "use strict";
  // Strings go through Django's JavaScript catalog (/jsi18n/, loaded by base.html); English
  // when it is missing.
  var gettext = window.gettext || function (s) { return s; };
  var interpolate = window.interpolate || function (fmt, obj, named) {
    return named ? fmt.replace(/%\((\w+)\)s/g, function (m, k) { return String(obj[k]); })
      : fmt.replace(/%s/g, function () { return String(obj.shift()); });
  };

  var GATHER_CAP_MS = 5000;

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  function csrf() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return (input && input.value) || cookie("csrftoken");
  }

  /* fetch JSON with the session cookie and CSRF; resolves {ok, status, data}. */
  function api(method, url, body, opts) {
    opts = opts || {};
    var headers = {"Accept": "application/json"};
    if (method !== "GET") headers["X-CSRFToken"] = csrf();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
    return fetch(url, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return {ok: r.ok, status: r.status, data: data};
      });
    });
  }

  function errorText(result, fallback) {
    var e = result && result.data && result.data.error;
    return (e && e.message) || fallback || gettext("Something went wrong.");
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function money(amount, currency) {
    var digits = currency === "JPY" ? 0 : 2;
    try {
      return new Intl.NumberFormat(undefined, {style: "currency", currency: currency,
        minimumFractionDigits: digits}).format(amount / Math.pow(10, digits));
    } catch (e) { return (amount / Math.pow(10, digits)).toFixed(digits) + " " + currency; }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function waitGathering(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var done = function () {
        if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); resolve(); }
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, GATHER_CAP_MS); // bounded: send what we have
    });
  }

  function preferVP8(transceiver) {
    if (!window.RTCRtpSender || !RTCRtpSender.getCapabilities || !transceiver.setCodecPreferences) return;
    var codecs = RTCRtpSender.getCapabilities("video").codecs;
    var vp8 = codecs.filter(function (c) { return c.mimeType.toLowerCase() === "video/vp8"; });
    var rest = codecs.filter(function (c) { return c.mimeType.toLowerCase() !== "video/vp8"; });
    try { transceiver.setCodecPreferences(vp8.concat(rest)); } catch (e) { /* keep defaults */ }
  }

  function ConsultSession(options) {
    this.o = options;               // {wsPath, joinUrl, onFrame, onStatus, local, remote, iceServers}
    this.ws = null;
    this.party = null;
    this.ended = false;
    this.inCall = false;
    this.wantMedia = false;
    this.pub = null;
    this.sub = null;
    this.subChain = Promise.resolve();
    this.localStream = null;
    this.cameraTrack = null;
    this.screenTrack = null;
    this.audioOnly = false;
    this.retries = 0;
    this.remoteStream = new MediaStream();
    this.publishOnly = false;
    this.subscribeOnly = !!options.subscribeOnly;
  }

  ConsultSession.prototype.status = function (text, kind) {
    if (this.o.onStatus) this.o.onStatus(text, kind || "");
  };

  ConsultSession.prototype.connect = function () {
    var self = this;
    return api("POST", this.o.joinUrl).then(function (res) {
      if (!res.ok) {
        self.status(errorText(res, gettext("Could not join the consult.")), "error");
        if (res.status === 409 || res.status === 404) { self.ended = true; if (self.o.onClosed) self.o.onClosed(res); }
        else self.retry();
        return;
      }
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(scheme + location.host + res.data.socket);
      self.ws = ws;
      ws.onopen = function () { ws.send(JSON.stringify({type: "auth", token: res.data.token})); };
      ws.onmessage = function (ev) {
        var frame;
        try { frame = JSON.parse(ev.data); } catch (e) { return; }
        self.handle(frame);
      };
      ws.onclose = function (ev) {
        if (self.ws !== ws) return;
        self.ws = null;
        self.closePeers();
        if (self.ended || ev.code === 1000) return;
        if (ev.code === 4401 || ev.code === 4403 || ev.code === 4404) {
          self.status(interpolate(gettext("The consult refused this connection (%(code)s)."), {code: ev.code}, true), "error");
          return;
        }
        self.retry();
      };
    }).catch(function () { self.retry(); });
  };

  ConsultSession.prototype.retry = function () {
    var self = this;
    if (this.ended) return;
    this.retries += 1;
    if (this.retries > 8) { this.status(gettext("Connection lost."), "error"); return; }
    this.status(gettext("Reconnecting…"), "warn");
    setTimeout(function () { self.connect(); }, Math.min(8000, 500 * Math.pow(2, this.retries - 1)));
  };

  ConsultSession.prototype.send = function (frame) {
    if (this.ws && this.ws.readyState === 1) { this.ws.send(JSON.stringify(frame)); return true; }
    return false;
  };

  ConsultSession.prototype.handle = function (frame) {
    var self = this;
    switch (frame.type) {
      case "auth.ok":
        this.retries = 0;
        this.status("", "");
        break;
      case "consult.state":
        this.party = frame.you.party;
        if (frame.ice_servers) this.o.iceServers = frame.ice_servers;  // STUN/TURN for this user
        if (frame.consult.status === "active") {
          this.inCall = true;
          if (this.wantMedia) this.startPeers();
        }
        break;
      case "consult.accepted":
        this.inCall = true;
        if (this.wantMedia) this.startPeers();
        break;
      case "consult.ended":
        this.ended = true;
        this.inCall = false;
        this.closePeers();
        this.stopLocal();
        break;
      case "answer":
        var pc = frame.role === "publish" ? this.pub : this.sub;
        if (pc) {
          if (frame.role === "subscribe") {
            this.subChain = this.subChain.then(function () {
              return pc.setRemoteDescription({type: "answer", sdp: frame.sdp});
            }).catch(function (e) { self.status(interpolate(gettext("Media answer failed: %(error)s"), {error: e}, true), "error"); });
          } else {
            pc.setRemoteDescription({type: "answer", sdp: frame.sdp})
              .catch(function (e) { self.status(interpolate(gettext("Media answer failed: %(error)s"), {error: e}, true), "error"); });
          }
        }
        break;
      case "offer":  // the relay renegotiates what we receive
        var sub = this.sub;
        if (!sub) break;
        this.subChain = this.subChain.then(function () {
          return sub.setRemoteDescription({type: "offer", sdp: frame.sdp})
            .then(function () { return sub.createAnswer(); })
            .then(function (answer) { return sub.setLocalDescription(answer); })
            .then(function () { self.send({type: "answer", sdp: sub.localDescription.sdp}); });
        }).catch(function (e) { self.status(interpolate(gettext("Renegotiation failed: %(error)s"), {error: e}, true), "error"); });
        break;
      case "closed":
        // The relay dropped a leg (e.g. a failed connection): make a new one.
        if (this.inCall && this.wantMedia && !this.ended) {
          setTimeout(function () { if (frame.role === "publish") self.publish(); else self.subscribe(); }, 500);
        }
        break;
      case "error":
        if (frame.code === "not_in_call") break;
        break;
    }
    if (this.o.onFrame) this.o.onFrame(frame, this);
  };

  ConsultSession.prototype.getLocal = function () {
    var self = this;
    if (this.localStream) return Promise.resolve(this.localStream);
    return navigator.mediaDevices.getUserMedia({
      audio: true,
      video: {width: {ideal: 640}, height: {ideal: 360}, frameRate: {ideal: 30}}
    }).then(function (stream) {
      self.localStream = stream;
      self.cameraTrack = stream.getVideoTracks()[0] || null;
      if (self.o.local) { self.o.local.srcObject = stream; self.o.local.muted = true; self.o.local.play().catch(function () {}); }
      return stream;
    });
  };

  /* Start the call's media once the consult is active (now or when accepted). */
  ConsultSession.prototype.startMedia = function () {
    this.wantMedia = true;
    if (this.inCall) return this.startPeers();
    return Promise.resolve();
  };

  ConsultSession.prototype.startPeers = function () {
    var self = this;
    if (this.starting) return this.starting;
    var work = this.subscribeOnly ? Promise.resolve() : this.getLocal().then(function () { return self.publish(); });
    this.starting = work.then(function () { return self.subscribe(); })
      .catch(function (e) { self.status(interpolate(gettext("Camera or microphone unavailable: %(error)s"), {error: e}, true), "error"); })
      .then(function () { self.starting = null; });
    return this.starting;
  };

  ConsultSession.prototype.publish = function () {
    var self = this;
    if (this.pub) this.pub.close();
    var pc = new RTCPeerConnection({iceServers: this.o.iceServers || []});
    this.pub = pc;
    var stream = this.localStream;
    stream.getAudioTracks().forEach(function (t) { pc.addTransceiver(t, {direction: "sendonly", streams: [stream]}); });
    var video = this.screenTrack || (this.audioOnly ? null : this.cameraTrack);
    var vt = pc.addTransceiver(video || "video", {direction: "sendonly", streams: [stream]});
    preferVP8(vt);
    this.videoSender = vt.sender;
    return pc.createOffer().then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return waitGathering(pc); })
      .then(function () {
        if (self.pub !== pc) return;
        self.send({type: "offer", role: "publish", sdp: pc.localDescription.sdp});
      });
  };

  ConsultSession.prototype.subscribe = function () {
    var self = this;
    if (this.sub) this.sub.close();
    var pc = new RTCPeerConnection({iceServers: this.o.iceServers || []});
    this.sub = pc;
    this.subChain = Promise.resolve();
    this.remoteStream = new MediaStream();
    var remote = this.o.remote;
    pc.addTransceiver("audio", {direction: "recvonly"});
    preferVP8(pc.addTransceiver("video", {direction: "recvonly"}));
    pc.ontrack = function (ev) {
      self.remoteStream.addTrack(ev.track);
      if (remote) {
        remote.srcObject = self.remoteStream;
        remote.play().catch(function () { remote.muted = true; remote.play().catch(function () {}); });
      }
    };
    return pc.createOffer().then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return waitGathering(pc); })
      .then(function () {
        if (self.sub !== pc) return;
        self.send({type: "offer", role: "subscribe", sdp: pc.localDescription.sdp});
      });
  };

  ConsultSession.prototype.closePeers = function () {
    if (this.pub) { this.pub.close(); this.pub = null; }
    if (this.sub) { this.sub.close(); this.sub = null; }
  };

  ConsultSession.prototype.stopLocal = function () {
    if (this.localStream) this.localStream.getTracks().forEach(function (t) { t.stop(); });
    if (this.screenTrack) this.screenTrack.stop();
    this.localStream = this.cameraTrack = this.screenTrack = null;
  };

  ConsultSession.prototype.announce = function () {
    var video = this.screenTrack ? "screen" : (this.audioOnly || !this.cameraTrack || !this.cameraTrack.enabled ? "off" : "camera");
    var mic = this.localStream && this.localStream.getAudioTracks()[0];
    this.send({type: "media.state", video: video, audio: !!(mic && mic.enabled)});
  };

  ConsultSession.prototype.setMic = function (on) {
    if (!this.localStream) return;
    this.localStream.getAudioTracks().forEach(function (t) { t.enabled = on; });
    this.announce();
  };

  ConsultSession.prototype.setCamera = function (on) {
    if (this.cameraTrack) this.cameraTrack.enabled = on;
    this.announce();
  };

  /* Audio only: stop sending video (and the camera light) until switched back. */
  ConsultSession.prototype.setAudioOnly = function (on) {
    var self = this;
    this.audioOnly = on;
    if (!this.videoSender) { this.announce(); return Promise.resolve(); }
    if (on) {
      if (this.cameraTrack) { this.cameraTrack.stop(); this.cameraTrack = null; }
      return this.videoSender.replaceTrack(this.screenTrack || null).then(function () { self.announce(); });
    }
    return navigator.mediaDevices.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 360}}})
      .then(function (s) {
        self.cameraTrack = s.getVideoTracks()[0];
        if (self.localStream) self.localStream.addTrack(self.cameraTrack);
        return self.videoSender.replaceTrack(self.screenTrack || self.cameraTrack);
      }).then(function () { self.announce(); });
  };

  ConsultSession.prototype.shareScreen = function () {
    var self = this;
    if (!navigator.mediaDevices.getDisplayMedia || !this.videoSender) return Promise.reject(new Error("not supported"));
    if (this.screenTrack) {  // stop sharing
      var track = this.screenTrack;
      this.screenTrack = null;
      track.stop();
      return this.videoSender.replaceTrack(this.audioOnly ? null : this.cameraTrack).then(function () { self.announce(); });
    }
    return navigator.mediaDevices.getDisplayMedia({video: true}).then(function (s) {
      self.screenTrack = s.getVideoTracks()[0];
      self.screenTrack.addEventListener("ended", function () {
        if (self.screenTrack) self.shareScreen();
      });
      return self.videoSender.replaceTrack(self.screenTrack);
    }).then(function () { self.announce(); });
  };

  /* For tests and the quality badge: what the receiving connection decodes. */
  ConsultSession.prototype.inboundVideo = function () {
    if (!this.sub) return Promise.resolve(null);
    return this.sub.getStats().then(function (stats) {
      var out = null;
      stats.forEach(function (r) {
        if (r.type === "inbound-rtp" && r.kind === "video") {
          if (!out || (r.framesDecoded || 0) > out.framesDecoded) {
            out = {framesDecoded: r.framesDecoded || 0, width: r.frameWidth || 0, height: r.frameHeight || 0};
          }
        }
      });
      return out;
    });
  };

  ConsultSession.prototype.close = function () {
    this.ended = true;
    this.send({type: "leave"});
    this.closePeers();
    this.stopLocal();
    if (this.ws) this.ws.close(1000);
  };

  /* An order status code (as the API sends it) as people read it. */
  function orderStatus(code) {
    var labels = {
      draft: gettext("Draft"), pending_payment: gettext("Awaiting payment"), paid: gettext("Paid"),
      fulfilled: gettext("Fulfilled"), expired: gettext("Expired"), cancelled: gettext("Cancelled"),
      refunded: gettext("Refunded")
    };
    return labels[code] || code;
  }

  window.LiveShopConsults = {
    ConsultSession: ConsultSession, api: api, errorText: errorText, uuid: uuid, money: money, el: el,
    orderStatus: orderStatus
  };
})();

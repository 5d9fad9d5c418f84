/* The storefront live room's video player (templates/media/_player.html).
 *
 * Subscribes to the room's video through the media signalling socket /ws/media/<m>/<room>/
 * (media/README.md): one RTCPeerConnection per subscribe offer, non-trickle (candidates in
 * the SDP), the relay's own `offer` frames answered for renegotiation. States on the element
 * (`data-state`): connecting, waiting (the show has not started), live, away (the host's
 * connection dropped; the relay keeps us connected and we resume when media flows again),
 * ended. Audio starts muted (autoplay rules) with a tap-to-unmute button. A quality
 * indicator is computed from getStats. Everything reconnects by itself with backoff.
 *
 * Crowds (issue 8): past the room's WebRTC viewer cap the socket refuses our offer with
 * `viewer_cap` (and the room's HLS master playlist); the player then plays HLS (hls.js from
 * static/vendor, or native HLS) and says so (`data-mode` = webrtc | hls, and a badge). It
 * also switches when WebRTC cannot connect (FAILS_BEFORE_HLS failures in a row).
 *
 * The page may listen for the bubbling `liveshop:player-state` event ({detail: {state}}).
 * For tests: `window.liveshopPlayers[0]` exposes `state`, `pc` and `videoStats()`.
 */
(function () {
  "use strict";

  var GATHER_CAP_MS = 3000; // non-trickle: wait at most this long for our candidates
  var STALL_MS = 2500; // no new frames for this long while live: we are not live any more
  var WAIT_POLL_MS = 5000; // room not live yet: re-check its status this often
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 10000;
  var FAILS_BEFORE_HLS = 3; // WebRTC connections failed in a row before falling back to HLS
  var HLS_RETRY_MS = 4000; // the playlist is not written yet: try again

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

  function Player(el) {
    this.el = el;
    this.merchant = el.dataset.merchant;
    this.room = el.dataset.room;
    this.video = el.querySelector("[data-role=video]");
    this.tiles = el.querySelector("[data-role=tiles]");
    this.statusText = el.querySelector("[data-role=status-text]");
    this.quality = el.querySelector("[data-role=quality]");
    this.qualityText = el.querySelector("[data-role=quality-text]");
    this.unmuteButton = el.querySelector("[data-role=unmute]");
    this.state = "";
    this.ws = null;
    this.pc = null;
    this.iceServers = [];
    this.host = null; // the host's publisher identity, from `hello`
    this.hostAway = false;
    this.tracks = []; // the last `tracks` list: mid → publisher
    this.audio = {}; // track id → <audio>
    this.muted = true;
    this.backoff = BACKOFF_MIN_MS;
    this.retryTimer = null;
    this.chain = Promise.resolve(); // one negotiation at a time on the peer connection
    this.lastFrames = 0;
    this.lastFramesAt = 0;
    this.lastStats = null;
    this.ended = false;
    this.mode = "webrtc";
    this.failures = 0;
    this.hls = null;
    this.modeBadge = el.querySelector("[data-role=mode]");
    this.videoByMid = {};
    var self = this;
    this.unmuteButton.addEventListener("click", function () { self.unmute(); });
    window.addEventListener("online", function () { self.retryNow(); });
    setInterval(function () { self.tick(); }, 1000);
  }

  Player.prototype.setState = function (state) {
    if (this.state === state) return;
    this.state = state;
    this.el.dataset.state = state;
    var label = this.el.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)];
    if (label) this.statusText.textContent = label;
    this.el.dispatchEvent(new CustomEvent("liveshop:player-state", { bubbles: true, detail: { state: state } }));
  };

  Player.prototype.start = function () {
    if (this.el.dataset.status === "ended") {
      this.end();
      return;
    }
    this.setState("connecting");
    this.connect();
  };

  // --- the signalling socket ---------------------------------------------------------

  Player.prototype.connect = function () {
    var self = this;
    if (this.ended) return;
    var ws = new WebSocket(wsUrl(this.merchant, this.room));
    this.ws = ws;
    ws.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      self.onFrame(frame);
    };
    ws.onclose = function (event) {
      if (self.ws !== ws) return;
      self.ws = null;
      self.closePc();
      if (self.ended) return;
      if (event.code === 4404) { self.end(); return; } // the room is gone
      if (self.state !== "waiting") self.setState("connecting");
      self.retry(function () { self.connect(); });
    };
  };

  Player.prototype.send = function (frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  };

  Player.prototype.onFrame = function (frame) {
    var self = this;
    switch (frame.type) {
      case "hello":
        this.iceServers = frame.ice_servers || [];
        this.host = frame.host;
        if (frame.room && frame.room.status === "ended") { this.end(); return; }
        if (frame.room && frame.room.status === "scheduled") {
          this.onError({ code: "room_not_live" }); // no offer until the show starts
          return;
        }
        if (!this.pc && this.mode !== "hls") this.subscribe();
        break;
      case "answer":
        if (frame.role !== "subscribe" || !this.pc) return;
        this.tracks = frame.tracks || [];
        (frame.publishers || []).forEach(function (p) {
          if (p.identity === self.host) self.hostAway = p.state === "away";
        });
        if (!(frame.publishers || []).some(function (p) { return p.identity === self.host; })) {
          this.hostAway = true; // the room is live, but the host is not publishing (yet)
        }
        if (this.hostAway) this.setState("away");
        this.negotiate(function (pc) {
          return pc.setRemoteDescription({ type: "answer", sdp: frame.sdp })
            .then(function () { self.relayout(); });
        });
        this.backoff = BACKOFF_MIN_MS;
        break;
      case "offer":
        // The relay renegotiates (a publisher came, left or was parked): answer in turn.
        this.tracks = frame.tracks || this.tracks;
        this.negotiate(function (pc) {
          return pc.setRemoteDescription({ type: "offer", sdp: frame.sdp })
            .then(function () { return pc.createAnswer(); })
            .then(function (answer) { return pc.setLocalDescription(answer); })
            .then(function () {
              self.send({ type: "answer", sdp: pc.localDescription.sdp });
              self.relayout();
            });
        });
        break;
      case "publisher.joined":
      case "publisher.back":
        if (frame.identity === this.host) {
          this.hostAway = false;
          if (this.state !== "live") this.setState("connecting");
        }
        break;
      case "publisher.away":
        if (frame.identity === this.host) { this.hostAway = true; this.setState("away"); }
        break;
      case "publisher.left":
        if (frame.identity === this.host) {
          this.hostAway = true;
          this.setState("away");
          this.checkRoom(); // the host ended the show, or will publish again
        }
        break;
      case "closed":
        if (frame.role === "subscribe") {
          this.closePc();
          if (frame.reason === "closed") { this.checkRoom(); return; } // session closed: ended?
          this.setState(this.hostAway ? "away" : "connecting");
          this.retry(function () { self.subscribe(); });
        }
        break;
      case "error":
        this.onError(frame);
        break;
    }
  };

  Player.prototype.onError = function (frame) {
    var self = this;
    if (frame.code === "room_ended") { this.end(); return; }
    if (frame.code === "viewer_cap") { this.switchToHls(frame.hls); return; }
    if (frame.code === "room_not_live") {
      this.closePc();
      this.setState("waiting");
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(function () { self.checkRoom(); }, WAIT_POLL_MS);
      return;
    }
    if (this.pc && this.pc.connectionState !== "connected") {
      // our offer was refused (relay busy or full, rate limit): try again later
      this.closePc();
      this.el.dataset.unavailable = frame.code;
      this.retry(function () { self.subscribe(); });
    }
  };

  Player.prototype.retry = function (action) {
    var self = this;
    clearTimeout(this.retryTimer);
    var delay = this.backoff * (0.75 + Math.random() / 2);
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
    this.retryTimer = setTimeout(function () {
      if (!self.ended) action();
    }, delay);
  };

  Player.prototype.retryNow = function () {
    if (this.ended) return;
    this.backoff = BACKOFF_MIN_MS;
    if (!this.ws) { clearTimeout(this.retryTimer); this.connect(); }
    else if (!this.pc) { clearTimeout(this.retryTimer); this.subscribe(); }
  };

  // The room's status from the storefront API (public): live → subscribe, ended → stop.
  Player.prototype.checkRoom = function () {
    var self = this;
    var api = this.el.dataset.roomApi;
    return fetch(api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (room) {
        if (!room) return;
        if (room.status === "ended") { self.end(); return; }
        if (room.status === "live" && !self.pc && self.ws) { self.subscribe(); return; }
        if (room.status !== "live" && self.state === "waiting") {
          clearTimeout(self.retryTimer);
          self.retryTimer = setTimeout(function () { self.checkRoom(); }, WAIT_POLL_MS);
        }
      })
      .catch(function () {
        clearTimeout(self.retryTimer);
        self.retryTimer = setTimeout(function () { self.checkRoom(); }, WAIT_POLL_MS);
      });
  };

  // --- HLS: crowds, or a network WebRTC cannot get through -------------------------------

  Player.prototype.setMode = function (mode) {
    this.mode = mode;
    this.el.dataset.mode = mode;
    if (this.modeBadge) {
      this.modeBadge.textContent = mode === "hls" ? this.el.dataset.labelModeHls : this.el.dataset.labelModeWebrtc;
      this.modeBadge.title = mode === "hls" ? this.el.dataset.labelModeHlsHint : this.el.dataset.labelModeWebrtcHint;
    }
  };

  Player.prototype.hlsUrl = function (url) {
    return url || ("/hls/" + encodeURIComponent(this.merchant) + "/" + encodeURIComponent(this.room) + "/master.m3u8");
  };

  Player.prototype.switchToHls = function (url) {
    var self = this;
    if (this.ended) return;
    this.closePc();
    clearTimeout(this.retryTimer);
    this.setMode("hls");
    var src = this.hlsUrl(url);
    this.hlsSrc = src;
    var video = this.video;
    Object.keys(this.audio).forEach(function (id) { self.audio[id].srcObject = null; });
    this.audio = {};
    while (this.tiles.firstChild) this.tiles.removeChild(this.tiles.firstChild);
    video.srcObject = null;
    if (this.hls) { this.hls.destroy(); this.hls = null; }
    var playing = function () { if (self.mode === "hls" && !self.ended) self.setState("live"); };
    video.addEventListener("playing", playing);
    if (window.Hls && window.Hls.isSupported()) {
      var hls = new window.Hls({ liveSyncDurationCount: 3, lowLatencyMode: false });
      this.hls = hls;
      hls.on(window.Hls.Events.ERROR, function (event, data) {
        if (!data.fatal || self.hls !== hls) return;
        // No playlist yet (the worker is starting) or a network hiccup: try again shortly.
        hls.destroy();
        self.hls = null;
        self.retryTimer = setTimeout(function () { self.switchToHls(url); }, HLS_RETRY_MS);
      });
      hls.loadSource(src);
      hls.attachMedia(video);
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () { video.play().catch(function () {}); });
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src; // Safari: native HLS
      video.play().catch(function () {});
    } else {
      this.setState("unavailable");
    }
  };

  Player.prototype.end = function () {
    this.ended = true;
    if (this.hls) { this.hls.destroy(); this.hls = null; }
    clearTimeout(this.retryTimer);
    this.closePc();
    if (this.ws) {
      var ws = this.ws;
      this.ws = null;
      try { ws.send(JSON.stringify({ type: "leave" })); } catch (e) { /* closing anyway */ }
      ws.close(1000);
    }
    this.setState("ended");
  };

  // --- the peer connection -----------------------------------------------------------

  Player.prototype.negotiate = function (step) {
    var self = this;
    var pc = this.pc;
    this.chain = this.chain.then(function () {
      if (self.pc !== pc || !pc) return null;
      return step(pc);
    }).catch(function (err) {
      if (window.console) console.warn("liveshop player: negotiation failed", err);
      if (self.pc === pc) {
        self.closePc();
        self.retry(function () { self.subscribe(); });
      }
    });
    return this.chain;
  };

  Player.prototype.subscribe = function () {
    var self = this;
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.ended || this.mode === "hls") return;
    this.closePc();
    var pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    // One audio and one video m-line; the relay offers more itself for co-hosts.
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = function (event) { self.attach(event); };
    pc.onconnectionstatechange = function () {
      if (self.pc !== pc) return;
      if (pc.connectionState === "connected") self.failures = 0;
      if (pc.connectionState === "failed") {
        self.failures += 1;
        if (self.failures >= FAILS_BEFORE_HLS) { self.switchToHls(null); return; }
        self.closePc();
        self.setState(self.hostAway ? "away" : "connecting");
        self.retry(function () { self.subscribe(); });
      }
    };
    this.lastFrames = 0;
    this.lastFramesAt = 0;
    this.negotiate(function () {
      return pc.createOffer()
        .then(function (offer) { return pc.setLocalDescription(offer); })
        .then(function () { return gathered(pc); })
        .then(function () {
          if (self.pc === pc) self.send({ type: "offer", role: "subscribe", sdp: pc.localDescription.sdp });
        });
    });
  };

  Player.prototype.closePc = function () {
    var pc = this.pc;
    this.pc = null;
    this.videoByMid = {};
    if (this.tiles) {
      while (this.tiles.firstChild) this.tiles.removeChild(this.tiles.firstChild);
      this.el.dataset.tiles = "0";
    }
    if (pc) {
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      try { pc.close(); } catch (e) { /* already closed */ }
    }
    this.chain = Promise.resolve();
  };

  Player.prototype.publisherOf = function (mid) {
    for (var i = 0; i < this.tracks.length; i++) {
      if (this.tracks[i].mid === mid) return this.tracks[i].publisher;
    }
    return null;
  };

  Player.prototype.attach = function (event) {
    var track = event.track;
    var mid = event.transceiver ? event.transceiver.mid : null;
    var publisher = this.publisherOf(mid);
    var self = this;
    if (track.kind === "audio") {
      // One element per audio track: every co-host is heard, all follow the mute button.
      var audio = new Audio();
      audio.autoplay = true;
      audio.muted = this.muted;
      audio.srcObject = new MediaStream([track]);
      this.audio[track.id] = audio;
      track.addEventListener("ended", function () { delete self.audio[track.id]; });
      audio.play().catch(function () { /* muted autoplay is allowed; unmute retries */ });
      return;
    }
    // Video: remember the track by m-line; relayout() puts the host in the main picture and
    // co-hosts / the PK partner side by side, following the relay's `tracks` (an m-line can be
    // parked and reused for another publisher on renegotiation).
    this.videoByMid[mid] = track;
    track.addEventListener("ended", function () {
      if (self.videoByMid[mid] === track) delete self.videoByMid[mid];
      self.relayout();
    });
    if (publisher === null && mid === null) {
      this.video.srcObject = new MediaStream([track]); // no mid: a single-picture fallback
      this.video.play().catch(function () {});
      return;
    }
    this.relayout();
  };

  Player.prototype.relayout = function () {
    var self = this;
    var wanted = {}; // mid → publisher, video m-lines carrying a feed
    this.tracks.forEach(function (t) { if (t.kind === "video" && t.publisher) wanted[t.mid] = t.publisher; });
    var hostMid = null;
    Object.keys(this.videoByMid).forEach(function (mid) { if (wanted[mid] === self.host) hostMid = mid; });
    if (hostMid !== null) {
      var hostTrack = this.videoByMid[hostMid];
      var current = this.video.srcObject && this.video.srcObject.getVideoTracks()[0];
      if (current !== hostTrack) {
        this.video.srcObject = new MediaStream([hostTrack]);
        this.video.play().catch(function () {});
      }
    }
    var tiles = {};
    Array.prototype.forEach.call(this.tiles.querySelectorAll("video"), function (tile) {
      tiles[tile.dataset.mid] = tile;
    });
    Object.keys(tiles).forEach(function (mid) {
      var publisher = wanted[mid];
      if (!publisher || publisher === self.host || !self.videoByMid[mid]) {
        tiles[mid].remove();
        delete tiles[mid];
      } else if (tiles[mid].dataset.publisher !== publisher) {
        tiles[mid].dataset.publisher = publisher;
      }
    });
    Object.keys(this.videoByMid).forEach(function (mid) {
      var publisher = wanted[mid];
      if (!publisher || publisher === self.host || tiles[mid]) return;
      var tile = document.createElement("video"); // a co-host or the PK partner
      tile.className = "media-player-tile";
      tile.muted = true;
      tile.autoplay = true;
      tile.playsInline = true;
      tile.dataset.mid = mid;
      tile.dataset.publisher = publisher;
      tile.srcObject = new MediaStream([self.videoByMid[mid]]);
      self.tiles.appendChild(tile);
      tile.play().catch(function () { /* starts once media flows */ });
    });
    this.el.dataset.tiles = String(this.tiles.querySelectorAll("video").length);
  };

  Player.prototype.unmute = function () {
    this.muted = false;
    this.el.classList.add("media-player-unmuted");
    this.video.muted = false;
    var list = this.audio;
    Object.keys(list).forEach(function (id) {
      list[id].muted = false;
      list[id].play().catch(function () { /* the next gesture will do */ });
    });
    this.video.play().catch(function () { /* no video yet */ });
  };

  // --- stats: live detection and the quality indicator ------------------------------

  Player.prototype.videoStats = function () {
    var pc = this.pc;
    if (!pc) return Promise.resolve(null);
    return pc.getStats().then(function (report) {
      var best = null;
      report.forEach(function (s) {
        if (s.type === "inbound-rtp" && s.kind === "video") {
          if (!best || (s.framesDecoded || 0) > (best.framesDecoded || 0)) best = s;
        }
      });
      return best;
    });
  };

  Player.prototype.tick = function () {
    var self = this;
    if (this.mode === "hls" && this.video && !this.video.paused && this.state !== "live") this.setState("live");
    if (!this.pc || this.ended) return;
    this.videoStats().then(function (s) {
      if (!s) return;
      var now = Date.now();
      var frames = s.framesDecoded || 0;
      if (frames > self.lastFrames) {
        self.lastFrames = frames;
        self.lastFramesAt = now;
        self.hostAway = false;
        if (self.state !== "live") self.setState("live");
        self.backoff = BACKOFF_MIN_MS;
      } else if (self.state === "live" && now - self.lastFramesAt > STALL_MS) {
        self.setState(self.hostAway ? "away" : "connecting");
      }
      self.rate(s, now);
    }).catch(function () { /* the connection closed under us */ });
  };

  Player.prototype.rate = function (s, now) {
    var last = this.lastStats;
    this.lastStats = { at: now, received: s.packetsReceived || 0, lost: s.packetsLost || 0 };
    if (!last || this.state !== "live") { this.quality.dataset.level = ""; return; }
    var received = this.lastStats.received - last.received;
    var lost = Math.max(0, this.lastStats.lost - last.lost);
    var loss = received + lost > 0 ? lost / (received + lost) : 0;
    var fps = s.framesPerSecond || 0;
    var height = s.frameHeight || 0;
    var level = "good";
    if (loss > 0.08 || fps < 12 || (s.jitter || 0) > 0.1) level = "poor";
    else if (loss > 0.02 || fps < 24 || (s.jitter || 0) > 0.04) level = "fair";
    this.quality.dataset.level = level;
    var label = this.el.dataset["labelQuality" + level.charAt(0).toUpperCase() + level.slice(1)];
    this.quality.title = label + " · " + (height ? height + "p " : "") + Math.round(fps) + " fps";
    this.qualityText.textContent = height ? (height >= 1080 ? "1080p" : height >= 720 ? "720p" : height + "p") : "";
  };

  var players = [];
  window.liveshopPlayers = players;
  function boot() {
    var nodes = document.querySelectorAll("[data-media-player]");
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].liveshopPlayer) continue;
      var player = new Player(nodes[i]);
      nodes[i].liveshopPlayer = player;
      players.push(player);
      player.setMode("webrtc");
      player.start();
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();

/* Stage (issue 8): co-hosts and PK, for the room page (templates/media/_stage.html) and the
 * host console (templates/media/_stage_console.html). The video itself is the player's
 * (player.js lays co-hosts and the PK partner out beside the host); this file handles:
 *
 * - the PK bar ([data-pk]): polls its PK API, shows both sides' names and scores, a
 *   countdown to `ends_at` and the winner;
 * - the room page ([data-stage-room]): who is on stage; the signed-in viewer's invite (poll
 *   of GET …/stage); accepting opens a camera preview and publishes it on the room's media
 *   socket (/ws/media/<m>/<room>/, role publish, VP8, candidates in the SDP); "Leave the
 *   stage" ends it; a host revoking us arrives as `closed {role: publish, reason: revoked}`;
 * - the console ([data-stage-console]): invite by user id, revoke, PK invite/accept/decline/
 *   end and the score breakdown.
 *
 * Tests: window.liveshopStage exposes {pk: [PkBar], room: StageRoom|null}.
 */
(function () {
  "use strict";

  var STAGE_POLL_MS = 3000;
  var PK_POLL_MS = 2000;
  var GATHER_CAP_MS = 3000;

  function csrf(el) {
    var input = el.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function api(el, method, url, body) {
    var headers = { Accept: "application/json", "X-CSRFToken": csrf(el) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (r) {
      if (r.status === 204) return {};
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var err = new Error((data.error && data.error.message) || ("HTTP " + r.status));
          err.status = r.status;
          err.code = data.error && data.error.code;
          throw err;
        }
        return data;
      });
    });
  }

  function text(el, value) { if (el) el.textContent = value == null ? "" : String(value); }

  // --- the PK bar ----------------------------------------------------------------------

  function PkBar(el) {
    this.el = el;
    this.url = el.dataset.pkApi;
    this.pk = null;
    this.side = null;
    this.deadline = null; // local ms when the PK ends
    this.listeners = [];
    var self = this;
    this.poll();
    setInterval(function () { self.poll(); }, PK_POLL_MS);
    setInterval(function () { self.clock(); }, 250);
  }

  PkBar.prototype.poll = function () {
    var self = this;
    return api(this.el, "GET", this.url).then(function (data) {
      self.show(data.pk, data.side);
    }).catch(function () { /* next poll */ });
  };

  PkBar.prototype.show = function (pk, side) {
    var el = this.el;
    this.pk = pk;
    this.side = side;
    el.hidden = !pk || pk.status === "declined";
    if (!pk) { this.notify(); return; }
    el.dataset.status = pk.status;
    el.dataset.side = side || "";
    var q = function (role) { return el.querySelector("[data-role=" + role + "]"); };
    text(q("a-host"), pk.a.host);
    text(q("a-room"), pk.a.room + (pk.a.merchant ? " · " + pk.a.merchant : ""));
    text(q("b-host"), pk.b.host);
    text(q("b-room"), pk.b.room + (pk.b.merchant ? " · " + pk.b.merchant : ""));
    text(q("a-score"), pk.a.score);
    text(q("b-score"), pk.b.score);
    var total = pk.a.score + pk.b.score;
    q("meter-a").style.width = (total > 0 ? Math.round(100 * pk.a.score / total) : 50) + "%";
    this.deadline = pk.remaining_s != null ? Date.now() + pk.remaining_s * 1000 : null;
    var result = "";
    if (pk.status === "invited") result = el.dataset.labelInvited;
    if (pk.status === "ended") {
      result = pk.winner === "draw" ? el.dataset.labelDraw :
        el.dataset.labelWinner + ": " + (pk.winner === "a" ? pk.a.host : pk.b.host);
    }
    text(q("result"), result);
    this.clock();
    this.notify();
  };

  PkBar.prototype.clock = function () {
    var clock = this.el.querySelector("[data-role=clock]");
    if (!this.pk || this.pk.status !== "live" || this.deadline === null) {
      text(clock, this.pk && this.pk.status === "ended" ? this.el.dataset.labelEnded : "PK");
      return;
    }
    var left = Math.max(0, Math.round((this.deadline - Date.now()) / 1000));
    text(clock, Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2));
  };

  PkBar.prototype.notify = function () {
    var self = this;
    this.listeners.forEach(function (fn) { fn(self.pk, self.side); });
  };

  // --- the room page: the guest's side -----------------------------------------------

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") resolve();
      });
      setTimeout(resolve, GATHER_CAP_MS);
    });
  }

  function StageRoom(el) {
    this.el = el;
    this.url = el.dataset.stageApi;
    this.state = null;
    this.stream = null;
    this.ws = null;
    this.pc = null;
    this.publishing = false;
    var self = this;
    var q = function (role) { return el.querySelector("[data-role=" + role + "]"); };
    this.q = q;
    q("accept").addEventListener("click", function () { self.accept(); });
    q("decline").addEventListener("click", function () { self.leave(); });
    q("leave").addEventListener("click", function () { self.leave(); });
    this.poll();
    setInterval(function () { self.poll(); }, STAGE_POLL_MS);
  }

  StageRoom.prototype.poll = function () {
    var self = this;
    return api(this.el, "GET", this.url).then(function (state) { self.render(state); })
      .catch(function () { /* next poll */ });
  };

  StageRoom.prototype.render = function (state) {
    var el = this.el;
    this.state = state;
    var names = state.members.map(function (m) { return m.user.name; });
    text(this.q("members"), names.length > 1 ? el.dataset.labelOnStage + ": " + names.join(" · ") : "");
    var me = state.me;
    this.q("invite").hidden = !(me && me.status === "invited");
    if (me && me.status === "on_stage") {
      this.q("guest").hidden = false;
      if (!this.publishing) this.publish();
    } else if (this.publishing) {
      this.stop(el.dataset.labelRevoked);
    }
  };

  StageRoom.prototype.accept = function () {
    var self = this;
    this.q("invite").hidden = true;
    // Ask for the camera first (a user gesture), then take the place on stage.
    navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true })
      .then(function (stream) {
        self.stream = stream;
        return api(self.el, "POST", self.url + "/accept");
      })
      .then(function (state) { self.render(state); })
      .catch(function (err) {
        self.note(err && err.name === "NotAllowedError" ? self.el.dataset.labelNoCamera : (err.message || String(err)));
        self.stopTracks();
      });
  };

  StageRoom.prototype.publish = function () {
    var self = this;
    var el = this.el;
    this.publishing = true;
    text(this.q("guest-state"), el.dataset.labelConnecting);
    var ready = this.stream ? Promise.resolve(this.stream) :
      navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
    ready.then(function (stream) {
      self.stream = stream;
      self.q("preview").srcObject = stream;
      var scheme = location.protocol === "https:" ? "wss" : "ws";
      var ws = new WebSocket(scheme + "://" + location.host + "/ws/media/" +
        encodeURIComponent(el.dataset.merchant) + "/" + encodeURIComponent(el.dataset.room) + "/");
      self.ws = ws;
      ws.onmessage = function (message) {
        var frame;
        try { frame = JSON.parse(message.data); } catch (e) { return; }
        self.onFrame(frame);
      };
      ws.onclose = function () { if (self.ws === ws) self.ws = null; };
    }).catch(function () {
      self.note(el.dataset.labelNoCamera);
      self.publishing = false;
    });
  };

  StageRoom.prototype.onFrame = function (frame) {
    var self = this;
    if (frame.type === "hello") {
      if (!frame.can_publish || this.pc) return;
      var pc = new RTCPeerConnection({ iceServers: frame.ice_servers || [] });
      this.pc = pc;
      this.stream.getTracks().forEach(function (track) {
        var t = pc.addTransceiver(track, { direction: "sendonly", streams: [self.stream] });
        if (track.kind === "video" && t.setCodecPreferences && window.RTCRtpSender && RTCRtpSender.getCapabilities) {
          var caps = RTCRtpSender.getCapabilities("video").codecs;
          var vp8 = caps.filter(function (c) { return c.mimeType === "video/VP8"; });
          if (vp8.length) t.setCodecPreferences(vp8);
        }
      });
      pc.onconnectionstatechange = function () {
        if (pc.connectionState === "connected") text(self.q("guest-state"), self.el.dataset.labelPublishing);
      };
      pc.createOffer()
        .then(function (offer) { return pc.setLocalDescription(offer); })
        .then(function () { return gathered(pc); })
        .then(function () {
          self.ws.send(JSON.stringify({ type: "offer", role: "publish", sdp: pc.localDescription.sdp }));
        });
    } else if (frame.type === "answer" && frame.role === "publish" && this.pc) {
      this.pc.setRemoteDescription({ type: "answer", sdp: frame.sdp });
    } else if (frame.type === "closed" && frame.role === "publish") {
      this.stop(frame.reason === "revoked" ? this.el.dataset.labelRevoked : "");
    } else if (frame.type === "error") {
      this.note(frame.message);
      this.stop("");
    }
  };

  StageRoom.prototype.leave = function () {
    var self = this;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "leave", role: "publish" }));
    }
    this.stop("");
    return api(this.el, "POST", this.url + "/leave").then(function (state) { self.render(state); })
      .catch(function () { self.poll(); });
  };

  StageRoom.prototype.stopTracks = function () {
    if (this.stream) this.stream.getTracks().forEach(function (t) { t.stop(); });
    this.stream = null;
  };

  StageRoom.prototype.stop = function (message) {
    this.publishing = false;
    if (this.pc) { try { this.pc.close(); } catch (e) { /* closed */ } }
    this.pc = null;
    if (this.ws) { var ws = this.ws; this.ws = null; ws.close(1000); }
    this.stopTracks();
    this.q("preview").srcObject = null;
    this.q("guest").hidden = true;
    if (message) this.note(message);
  };

  StageRoom.prototype.note = function (message) {
    var note = this.q("note");
    note.hidden = !message;
    text(note, message);
  };

  // --- the host console --------------------------------------------------------------

  function StageConsole(el, pkBar) {
    this.el = el;
    this.url = el.dataset.stageApi;
    this.pkBar = pkBar;
    var self = this;
    var q = function (role) { return el.querySelector("[data-role=" + role + "]"); };
    this.q = q;
    q("invite-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var user = parseInt(event.target.elements.user.value, 10);
      self.call("stage-error", "POST", self.url + "/invites", { user: user })
        .then(function () { event.target.reset(); self.poll(); });
    });
    q("pk-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var f = event.target.elements;
      self.call("pk-error", "POST", pkBar.url, {
        merchant: f.merchant.value.trim(),
        room: f.room.value.trim(),
        duration_s: parseInt(f.duration_s.value, 10),
      }).then(function () { pkBar.poll(); });
    });
    ["accept", "decline", "end"].forEach(function (action) {
      q("pk-" + action).addEventListener("click", function () {
        if (!pkBar.pk) return;
        self.call("pk-error", "POST", el.dataset.pkActions + pkBar.pk.id + "/" + action)
          .then(function () { pkBar.poll(); });
      });
    });
    q("pk-breakdown").addEventListener("click", function () {
      if (!pkBar.pk) return;
      self.call("pk-error", "GET", el.dataset.pkActions + pkBar.pk.id + "/breakdown").then(function (data) {
        var out = q("pk-breakdown-out");
        out.hidden = false;
        out.textContent = JSON.stringify(data, null, 2);
      });
    });
    pkBar.listeners.push(function (pk, side) { self.pkButtons(pk, side); });
    this.poll();
    setInterval(function () { self.poll(); }, STAGE_POLL_MS);
  }

  StageConsole.prototype.call = function (errorRole, method, url, body) {
    var error = this.q(errorRole);
    error.hidden = true;
    return api(this.el, method, url, body).catch(function (err) {
      error.hidden = false;
      text(error, err.message);
      throw err;
    });
  };

  StageConsole.prototype.pkButtons = function (pk, side) {
    var open = pk && (pk.status === "invited" || pk.status === "live");
    this.q("pk-actions").hidden = !pk;
    this.q("pk-form").hidden = !!open;
    this.q("pk-accept").hidden = !(pk && pk.status === "invited" && side === "b");
    this.q("pk-decline").hidden = !(pk && pk.status === "invited");
    this.q("pk-end").hidden = !(pk && pk.status === "live");
    this.q("pk-breakdown").hidden = !(pk && (pk.status === "live" || pk.status === "ended"));
  };

  StageConsole.prototype.poll = function () {
    var self = this;
    return api(this.el, "GET", this.url).then(function (state) { self.render(state); })
      .catch(function () { /* next poll */ });
  };

  StageConsole.prototype.render = function (state) {
    var self = this;
    var el = this.el;
    var list = this.q("members");
    list.textContent = "";
    var row = function (user, label, action, actionLabel) {
      var li = document.createElement("li");
      li.dataset.user = user.id;
      li.appendChild(document.createTextNode(user.name + " (#" + user.id + ")" + (label ? " · " + label : "")));
      if (action) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-sm";
        button.textContent = actionLabel;
        button.addEventListener("click", function () {
          self.call("stage-error", "DELETE", self.url + "/" + user.id).then(function () { self.poll(); });
        });
        li.appendChild(document.createTextNode(" "));
        li.appendChild(button);
      }
      list.appendChild(li);
    };
    state.members.forEach(function (m) {
      if (m.role === "host") row(m.user, el.dataset.labelHost, false);
      else row(m.user, "", true, el.dataset.labelRevoke);
    });
    state.invited.forEach(function (u) { row(u, el.dataset.labelInvited, true, el.dataset.labelWithdraw); });
  };

  // --- boot --------------------------------------------------------------------------

  var registry = { pk: [], room: null, console: null };
  window.liveshopStage = registry;
  function boot() {
    var bars = document.querySelectorAll("[data-pk]");
    for (var i = 0; i < bars.length; i++) {
      if (bars[i].liveshopPk) continue;
      bars[i].liveshopPk = new PkBar(bars[i]);
      registry.pk.push(bars[i].liveshopPk);
    }
    var room = document.querySelector("[data-stage-room]");
    if (room && !room.liveshopStage && room.dataset.signedIn) {
      room.liveshopStage = registry.room = new StageRoom(room);
    } else if (room && !room.dataset.signedIn) {
      // Anonymous viewers only see who is on stage.
      var members = room.querySelector("[data-role=members]");
      api(room, "GET", room.dataset.stageApi).then(function (state) {
        var names = state.members.map(function (m) { return m.user.name; });
        text(members, names.length > 1 ? room.dataset.labelOnStage + ": " + names.join(" · ") : "");
      }).catch(function () {});
    }
    var host = document.querySelector("[data-stage-console]");
    if (host && !host.liveshopStage) {
      var bar = host.querySelector("[data-pk]").liveshopPk;
      host.liveshopStage = registry.console = new StageConsole(host, bar);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();

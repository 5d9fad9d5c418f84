/* The room WebSocket client shared by the room page and the host console.
 *
 * Contract: ARCHITECTURE.md "Room WebSocket" and rooms/protocol.py. The server sends `hello`
 * first, then `batch` frames {from, to, events, folded, stats}. This client
 *   - remembers the last seq it has seen and, after a drop, reconnects with ?since=<seq>
 *     (exponential backoff with jitter, 0.5 s doubling to 15 s; at once when the browser
 *     comes back online), so nothing is lost or shown twice;
 *   - on a resume `hello` keeps its position (the missed events follow as batches); on a
 *     first `hello` or one with `gap: true` it starts over at hello.seq and tells the page to
 *     reload what it shows (`onHello(frame, {fresh: true})`);
 *   - drops events it has already seen (seq <= last) and reconnects with `since` if a batch
 *     would leave a hole;
 *   - gives up on close codes that retrying cannot fix (4401, 4403, 4404, 1009).
 *
 *   var socket = new LiveShopRoomSocket({
 *     url: "/ws/rooms/<m>/<room>/",
 *     onHello(frame, {fresh}), onEvents(events, batch), onStats(stats), onError(frame),
 *     onState(state)  // "connecting" | "open" | "reconnecting" | "closed"
 *   });
 *   socket.connect(); socket.send({type: "chat.send", text, nonce: socket.nonce()});
 */
(function () {
  "use strict";
  var gettext = window.gettext || function (s) { return s; };

  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  var FATAL = { 4401: true, 4403: true, 4404: true, 1009: true };

  function RoomSocket(options) {
    this.options = options;
    this.ws = null;
    this.lastSeq = null; // last seq seen (null until the first hello)
    this.state = "closed";
    this.backoff = BACKOFF_MIN_MS;
    this.timer = null;
    this.stopped = false;
    this.closeCode = null;
    this.counter = 0;
    var self = this;
    window.addEventListener("online", function () {
      if (self.state === "reconnecting") self.reconnectNow();
    });
  }

  RoomSocket.prototype.url = function () {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + this.options.url;
    if (this.lastSeq !== null) url += "?since=" + encodeURIComponent(this.lastSeq);
    return url;
  };

  RoomSocket.prototype.setState = function (state) {
    if (this.state === state) return;
    this.state = state;
    if (this.options.onState) this.options.onState(state, this);
  };

  RoomSocket.prototype.connect = function () {
    var self = this;
    clearTimeout(this.timer);
    this.stopped = false;
    this.setState(this.lastSeq === null && this.state !== "reconnecting" ? "connecting" : "reconnecting");
    var ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = function (message) {
      if (self.ws !== ws) return;
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      self.onFrame(frame);
    };
    ws.onclose = function (event) {
      if (self.ws !== ws) return;
      self.ws = null;
      self.closeCode = event.code;
      if (self.stopped) { self.setState("closed"); return; }
      if (FATAL[event.code]) {
        self.setState("closed");
        if (self.options.onClosed) self.options.onClosed(event.code);
        return;
      }
      self.scheduleReconnect();
    };
  };

  RoomSocket.prototype.scheduleReconnect = function () {
    var self = this;
    this.setState("reconnecting");
    clearTimeout(this.timer);
    var delay = this.backoff * (0.75 + Math.random() / 2);
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
    this.timer = setTimeout(function () { self.connect(); }, delay);
  };

  RoomSocket.prototype.reconnectNow = function () {
    clearTimeout(this.timer);
    if (this.ws) {
      var ws = this.ws;
      this.ws = null;
      try { ws.close(); } catch (e) { /* closed */ }
    }
    this.connect();
  };

  RoomSocket.prototype.close = function () {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  };

  RoomSocket.prototype.send = function (frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  };

  RoomSocket.prototype.isOpen = function () {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN && this.state === "open";
  };

  RoomSocket.prototype.nonce = function () {
    this.counter += 1;
    var random = window.crypto && crypto.randomUUID ? crypto.randomUUID().slice(0, 18)
      : Math.random().toString(36).slice(2, 14);
    return random + "-" + this.counter;
  };

  RoomSocket.prototype.onFrame = function (frame) {
    var o = this.options;
    switch (frame.type) {
      case "hello": {
        // A first hello, or a resume the server could not serve (gap): start over at its seq.
        var fresh = this.lastSeq === null || !!frame.gap;
        if (fresh) this.lastSeq = frame.seq;
        this.backoff = BACKOFF_MIN_MS;
        this.setState("open");
        if (o.onHello) o.onHello(frame, { fresh: fresh });
        break;
      }
      case "batch": {
        if (frame.to >= frame.from) {
          if (this.lastSeq !== null && frame.from > this.lastSeq + 1) {
            // A hole: never show it half; resume from what we have.
            this.reconnectNow();
            return;
          }
          var last = this.lastSeq;
          var events = last === null ? frame.events : frame.events.filter(function (ev) { return ev.seq > last; });
          this.lastSeq = last === null ? frame.to : Math.max(last, frame.to);
          if ((events.length || frame.folded) && o.onEvents) o.onEvents(events, frame);
        }
        if (frame.stats && o.onStats) o.onStats(frame.stats);
        break;
      }
      case "error":
        if (o.onError) o.onError(frame);
        break;
      default:
        if (o.onFrame) o.onFrame(frame);
    }
  };

  window.LiveShopRoomSocket = RoomSocket;

  // Small helpers both pages use.
  window.LiveShopRoom = {
    money: function (minor, currency, digits) {
      if (minor === null || minor === undefined) return "";
      if (digits === undefined) digits = currency === "JPY" ? 0 : 2;
      try {
        return new Intl.NumberFormat(document.documentElement.lang || "en", {
          style: "currency", currency: currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
        }).format(minor / Math.pow(10, digits));
      } catch (e) {
        return (minor / Math.pow(10, digits)).toFixed(digits) + " " + currency;
      }
    },
    el: function (tag, cls, text) {
      var node = document.createElement(tag);
      if (cls) node.className = cls;
      if (text !== undefined && text !== null) node.textContent = String(text);
      return node;
    },
    // Epoch seconds or milliseconds (both appear in events) → milliseconds.
    ms: function (t) {
      if (t === null || t === undefined) return null;
      return t > 1e12 ? t : t * 1000;
    },
    csrf: function () {
      var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
      if (m) return decodeURIComponent(m[1]);
      var input = document.querySelector("input[name=csrfmiddlewaretoken]");
      return input ? input.value : "";
    },
    api: function (method, url, body, headers) {
      var h = { Accept: "application/json", "X-CSRFToken": window.LiveShopRoom.csrf() };
      if (body !== undefined) h["Content-Type"] = "application/json";
      Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
      return fetch(url, {
        method: method, credentials: "same-origin", headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(function (r) {
        return r.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          return { ok: r.ok, status: r.status, data: data };
        });
      }, function () { return { ok: false, status: 0, data: null }; });
    },
    errorText: function (res) {
      var err = res && res.data && res.data.error;
      if (err && err.message) return err.message;
      if (res && res.status === 0) return gettext("Network problem. Please try again.");
      return gettext("Something went wrong. Please try again.");
    },
  };
})();

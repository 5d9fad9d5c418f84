/* The replay page of a virtual-host room: follows the show's timeline (state from
 * /api/v1/s/<m>/rooms/<room>/replay, refreshed when the current step ends and on every
 * `product.pinned` replay event), and shows the room chat with the assistant's answers over
 * the room WebSocket when it is available. */
(function () {
  "use strict";
  var root = document.querySelector("[data-replay]");
  if (!root) return;
  var stateNode = document.getElementById("replay-state");
  var state = stateNode ? JSON.parse(stateNode.textContent) : null;
  var lang = root.dataset.lang;
  var messages = root.querySelector("[data-messages]");
  var MAX_MESSAGES = 200;
  var refreshTimer = null;
  var lastSeq = null;

  function $(sel) { return root.querySelector(sel); }

  function showStep(current) {
    var slide = $("[data-slide]");
    var pinned = $("[data-pinned]");
    if (!current) {
      pinned.hidden = true;
      return;
    }
    var p = current.product;
    var image = slide.querySelector(".replay-image");
    image.textContent = "";
    if (p.image) {
      var img = document.createElement("img");
      img.src = p.image; img.alt = "";
      image.appendChild(img);
    } else {
      var ph = document.createElement("div"); ph.className = "ph"; image.appendChild(ph);
    }
    $("[data-slide-name]").textContent = p.name;
    $("[data-slide-caption]").textContent = current.caption || "";
    pinned.hidden = false;
    pinned.textContent = "";
    var link = document.createElement("a");
    link.className = "row spread"; link.href = p.url;
    var name = document.createElement("span"); name.textContent = p.name;
    var price = document.createElement("span"); price.className = "price";
    price.textContent = window.LiveShopAssistant.money(p.price, p.currency);
    link.appendChild(name); link.appendChild(price);
    pinned.appendChild(link);
    root.querySelectorAll("[data-timeline] li").forEach(function (li) {
      li.classList.toggle("current", Number(li.dataset.position) === current.position);
    });
  }

  function progress() {
    var bar = $("[data-progress]");
    if (!state || !state.running || !state.next_at || !state.current) { bar.style.width = "0"; return; }
    var total = state.current.seconds * 1000;
    var left = state.next_at * 1000 - Date.now();
    bar.style.width = Math.max(0, Math.min(100, 100 - (left / total) * 100)) + "%";
  }

  function schedule() {
    clearTimeout(refreshTimer);
    var wait = state && state.next_at ? state.next_at * 1000 - Date.now() + 600 : 15000;
    refreshTimer = setTimeout(refresh, Math.max(1000, Math.min(wait, 60000)));
  }

  function refresh() {
    fetch(root.dataset.stateUrl + "?lang=" + lang, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) { state = data; fetchedAt = Date.now(); showStep(state.current); sync(); }
      })
      .catch(function () {})
      .then(schedule);
  }

  function addMessage(node) {
    messages.appendChild(node);
    while (messages.children.length > MAX_MESSAGES) messages.removeChild(messages.firstChild);
    messages.scrollTop = messages.scrollHeight;
  }

  function onEvent(ev) {
    if (ev.type === "chat.message") {
      var li = document.createElement("li");
      var who = document.createElement("strong");
      who.textContent = (ev.user && ev.user.name ? ev.user.name : "") + " ";
      li.appendChild(who);
      li.appendChild(document.createTextNode(ev.text));
      li.dataset.seq = ev.seq;
      addMessage(li);
    } else if (ev.type === "assistant.answer") {
      var holder = document.createElement("ol");
      window.LiveShopAssistant.renderAnswer(ev, holder);
      addMessage(holder.firstChild);
    } else if (ev.type === "product.pinned" && ev.replay) {
      refresh();
    } else if (ev.type === "moderation.removed") {
      var gone = messages.querySelector('[data-seq="' + (ev.removed_seq || "") + '"]');
      if (gone) gone.remove();
    }
  }

  var socket = null;
  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var url = proto + location.host + root.dataset.ws + (lastSeq !== null ? "?since=" + lastSeq : "");
    try { socket = new WebSocket(url); } catch (e) { return unavailable(); }
    socket.onmessage = function (msg) {
      var frame;
      try { frame = JSON.parse(msg.data); } catch (e) { return; }
      if (frame.type === "hello") {
        $("[data-chat-status]").hidden = true;
        if (lastSeq === null) (frame.recent || []).forEach(onEvent);
        lastSeq = frame.seq;
      } else if (frame.type === "batch") {
        (frame.events || []).forEach(onEvent);
        lastSeq = frame.to;
      }
    };
    socket.onclose = function (e) {
      if (e.code === 4404 || e.code === 4403) return unavailable();
      unavailable();
      setTimeout(connect, 3000);
    };
  }
  function unavailable() { $("[data-chat-status]").hidden = false; }

  var form = $("[data-chat-form]");
  if (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var input = form.querySelector("input[name=text]");
      var text = input.value.trim();
      if (!text || !socket || socket.readyState !== 1) return unavailable();
      socket.send(JSON.stringify({ type: "chat.send", text: text, nonce: String(Date.now()) + Math.random().toString(16).slice(2, 8) }));
      input.value = "";
    });
  }

  /* A recording plays the moment every viewer sees (state.recording_offset, seconds into it
   * when the state was read); HLS through hls.js where the browser has no native HLS. */
  var fetchedAt = Date.now();
  var video = root.querySelector("video[data-recording]");
  function sync() {
    if (!video || !state || state.recording_offset === null || state.recording_offset === undefined) return;
    var want = state.recording_offset + (Date.now() - fetchedAt) / 1000;
    if (state.recording_seconds) want = want % state.recording_seconds;
    if (Math.abs(video.currentTime - want) > 3) video.currentTime = want;
  }
  if (video) {
    var url = video.dataset.recording;
    if (/\.m3u8(\?|$)/.test(url) && !video.canPlayType("application/vnd.apple.mpegurl") && window.Hls && window.Hls.isSupported()) {
      var hls = new window.Hls();
      hls.loadSource(url);
      hls.attachMedia(video);
    } else {
      video.src = url;
    }
    video.addEventListener("loadedmetadata", sync);
  }

  if (state) showStep(state.current);
  setInterval(progress, 250);
  schedule();
  connect();
})();

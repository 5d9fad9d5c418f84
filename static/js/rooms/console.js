/* The host console (templates/dashboard/rooms/console.html).
 *
 * Go live / End show belong to the camera panel (static/js/media/publisher.js); this page
 * follows its `liveshop:publisher-state` events and the room's `room.state` events for the
 * status badge. Over the room socket (socket.js): live chat with one-click moderation
 * (`moderate` delete / mute 5 min / ban), the host's own messages, pin/unpin from the
 * line-up, starting a flash sale, and viewers/likes from batch stats. Gifts, orders and sales
 * of this show come from selling's room stats API, polled every 5 s (and soon after a gift or
 * a purchase).
 */
(function () {
  "use strict";
  var gettext = window.gettext || function (s) { return s; };
  var root = document.querySelector("[data-host-console]");
  if (!root) return;
  var config = JSON.parse(document.getElementById("host-console-config").textContent);
  var R = window.LiveShopRoom;
  var el = R.el;
  var me = config.me;
  var STATS_POLL_MS = 5000;
  var MUTE_SECONDS = 300;

  function $(name) { return root.querySelector('[data-field="' + name + '"]'); }
  function counter(name, value) {
    var dd = root.querySelector('[data-counter="' + name + '"]');
    if (dd && value !== undefined && value !== null) dd.textContent = String(value);
  }
  function fmt(text, values) {
    return window.interpolate ? window.interpolate(text, values, true)
      : text.replace(/%\((\w+)\)s/g, function (m, k) { return String(values[k]); });
  }
  function money(minor) { return R.money(minor, config.currency, config.digits); }

  var state = { pinned: null, flashTimer: null, products: {} };
  config.lineup.forEach(function (card) { state.products[card.id] = card; });

  var noticeTimer = null;
  function notice(text) {
    var box = $("notice");
    box.textContent = text || "";
    box.hidden = !text;
    clearTimeout(noticeTimer);
    if (text) noticeTimer = setTimeout(function () { box.hidden = true; }, 8000);
  }

  // --- status -------------------------------------------------------------------------------

  var STATUS_TEXT = {
    scheduled: gettext("Scheduled"), live: gettext("Live"), ended: gettext("Ended"),
  };
  function setStatus(status) {
    if (!STATUS_TEXT[status]) return;
    var badge = $("status");
    badge.textContent = STATUS_TEXT[status];
    badge.className = "badge" + (status === "live" ? " badge-live" : status === "scheduled" ? " badge-info" : "");
    root.dataset.status = status;
  }
  document.addEventListener("liveshop:publisher-state", function (e) {
    var s = e.detail && e.detail.state;
    if (s === "live") setStatus("live");
    if (s === "ended") setStatus("ended");
  });

  // --- chat with moderation --------------------------------------------------------------------

  function modButton(label, test, frame) {
    var b = el("button", "btn btn-ghost btn-sm", label);
    b.type = "button";
    b.dataset.test = test;
    b.addEventListener("click", function () {
      frame.nonce = socket.nonce();
      if (!socket.send(frame)) notice(gettext("Not connected. Try again in a moment."));
      else b.disabled = true;
    });
    return b;
  }

  function renderEvent(ev) {
    var li;
    if (ev.type === "chat.message") {
      li = el("li", "console-msg");
      li.appendChild(el("b", "", (ev.user && ev.user.name) || "?"));
      li.appendChild(el("span", "console-msg-text", ev.text));
      if (ev.user && (!me || ev.user.id !== me.id)) {
        var tools = el("span", "console-mod");
        tools.appendChild(modButton(gettext("Delete"), "mod-delete", { type: "moderate", action: "delete", seq: ev.seq }));
        tools.appendChild(modButton(gettext("Mute 5 min"), "mod-mute", { type: "moderate", action: "mute", user: ev.user.id, seconds: MUTE_SECONDS }));
        tools.appendChild(modButton(gettext("Ban"), "mod-ban", { type: "moderate", action: "ban", user: ev.user.id }));
        li.appendChild(tools);
      }
      return li;
    }
    if (ev.type === "gift") {
      li = el("li", "console-msg console-msg-event");
      li.appendChild(el("span", "", fmt(gettext("%(name)s sent %(gift)s × %(count)s"), {
        name: (ev.user && ev.user.name) || "?", gift: (ev.gift && ev.gift.name) || "", count: ev.count || 1,
      })));
      return li;
    }
    if (ev.type === "moderation.muted") {
      if (ev.lifted) return el("li", "console-msg console-msg-event", fmt(gettext("%(name)s may chat again."), { name: (ev.user && ev.user.name) || "?" }));
      return el("li", "console-msg console-msg-event", ev.until === null
        ? fmt(gettext("%(name)s was banned."), { name: (ev.user && ev.user.name) || "?" })
        : fmt(gettext("%(name)s was muted."), { name: (ev.user && ev.user.name) || "?" }));
    }
    if (ev.type === "purchase") {
      var card = state.products[ev.product];
      return el("li", "console-msg console-msg-event", fmt(gettext("Order: %(name)s"), { name: card ? card.name : "#" + ev.product }));
    }
    return null;
  }
  var chat = new window.LiveShopChatList($("chat"), { max: 200, render: renderEvent });

  $("chat-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = e.target.elements.text;
    var text = input.value.trim();
    if (!text) return;
    if (socket.send({ type: "chat.send", text: text.slice(0, 300), nonce: socket.nonce() })) input.value = "";
    else notice(gettext("Not connected. Your message was not sent."));
  });

  // --- pins --------------------------------------------------------------------------------------

  function showPinned(card) {
    state.pinned = card ? card.id : null;
    root.querySelectorAll(".console-lineup li[data-product-id]").forEach(function (li) {
      var on = Number(li.dataset.productId) === state.pinned;
      li.classList.toggle("pinned", on);
      li.querySelector("[data-pinned-badge]").hidden = !on;
      var pin = li.querySelector('[data-action="pin"]');
      pin.hidden = on;
      pin.disabled = false;
    });
    root.querySelector('[data-action="unpin"]').hidden = !state.pinned;
    if (card && typeof card.stock === "number") stockText(card.id, card.stock);
  }
  function stockText(productId, stock) {
    var li = root.querySelector('.console-lineup li[data-product-id="' + productId + '"] [data-stock]');
    if (li) li.textContent = fmt(gettext("%(n)s in stock"), { n: stock });
  }
  root.querySelectorAll('[data-action="pin"]').forEach(function (b) {
    b.addEventListener("click", function () {
      if (socket.send({ type: "pin", product: Number(b.dataset.product), nonce: socket.nonce() })) b.disabled = true;
      else notice(gettext("Not connected. Try again in a moment."));
    });
  });
  root.querySelector('[data-action="unpin"]').addEventListener("click", function () {
    if (!socket.send({ type: "unpin", nonce: socket.nonce() })) notice(gettext("Not connected. Try again in a moment."));
  });

  // --- flash sale ------------------------------------------------------------------------------------

  function toMinor(text) {
    var value = Number(String(text).replace(",", ".").trim());
    if (!isFinite(value) || value < 0) return null;
    return Math.round(value * Math.pow(10, config.digits));
  }
  var flashForm = $("flash-form");
  function fillVariants() {
    var card = state.products[Number(flashForm.elements.product.value)];
    var select = flashForm.elements.variant;
    select.textContent = "";
    ((card && card.variants) || []).forEach(function (v) {
      var option = el("option", "", fmt(gettext("%(name)s (%(n)s in stock)"), { name: v.name || "#" + v.id, n: v.stock }));
      option.value = v.id;
      option.disabled = v.stock <= 0;
      select.appendChild(option);
    });
    var firstInStock = Array.prototype.filter.call(select.options, function (o) { return !o.disabled; })[0];
    if (firstInStock) select.value = firstInStock.value;
    $("flash-variant-row").hidden = select.options.length <= 1;
    if (card && !flashForm.elements.price.value) {
      var digits = config.digits;
      flashForm.elements.price.value = (Math.round(card.price * 0.8) / Math.pow(10, digits)).toFixed(digits);
    }
  }
  if (flashForm.elements.product) {
    flashForm.elements.product.addEventListener("change", function () { flashForm.elements.price.value = ""; fillVariants(); });
    fillVariants();
  }
  flashForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var f = e.target.elements;
    var price = toMinor(f.price.value);
    var units = parseInt(f.units.value, 10);
    var seconds = parseInt(f.seconds.value, 10);
    if (price === null) { notice(gettext("Give the sale price as an amount, e.g. 9.90.")); return; }
    if (!(units >= 1)) { notice(gettext("Give at least one unit.")); return; }
    if (!(seconds >= 10 && seconds <= 300)) { notice(gettext("A flash sale lasts 10 to 300 seconds.")); return; }
    var frame = { type: "flash_sale.start", product: Number(f.product.value), price: price, units: units, duration_s: seconds, nonce: socket.nonce() };
    if (f.variant.value) frame.variant = Number(f.variant.value);
    if (!socket.send(frame)) notice(gettext("Not connected. Try again in a moment."));
  });
  function showFlash(sale) {
    var box = $("flash");
    clearInterval(state.flashTimer);
    if (!sale) { box.hidden = true; return; }
    var card = state.products[sale.product && sale.product.id ? sale.product.id : sale.product];
    var endsAt = R.ms(sale.ends_at);
    state.sale = sale;
    if (typeof sale.remaining !== "number") sale.remaining = sale.units;
    var tick = function () {
      var left = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
      box.textContent = fmt(gettext("⚡ %(name)s at %(price)s: %(remaining)s of %(units)s units left, %(left)s s to go"), {
        name: card ? card.name : "", price: money(sale.price), remaining: sale.remaining, units: sale.units, left: left,
      });
      if (!left) clearInterval(state.flashTimer);
    };
    box.hidden = false;
    tick();
    state.flashTimer = setInterval(tick, 500);
  }

  // --- counters -----------------------------------------------------------------------------------------

  var statsTimer = null;
  function loadStats() {
    clearTimeout(statsTimer);
    R.api("GET", config.api.stats).then(function (res) {
      if (res.ok && res.data) {
        var d = res.data;
        counter("gifts", d.gifts);
        counter("orders", d.orders);
        if (typeof d.gmv === "number") counter("gmv", R.money(d.gmv, d.currency || config.currency));
        if (typeof d.viewers === "number" && !socket.isOpen()) counter("viewers", d.viewers);
        if (typeof d.likes === "number" && !socket.isOpen()) counter("likes", d.likes);
      }
      // Not there (yet) or failing: ask again, but less often.
      statsTimer = setTimeout(loadStats, res.ok ? STATS_POLL_MS : STATS_POLL_MS * 6);
    });
  }
  function loadStatsSoon() {
    clearTimeout(statsTimer);
    statsTimer = setTimeout(loadStats, 800);
  }

  // --- the socket ------------------------------------------------------------------------------------------

  function handle(ev) {
    switch (ev.type) {
      case "chat.message": chat.push(ev); break;
      case "gift": chat.push(ev); loadStatsSoon(); break;
      case "purchase": chat.push(ev); loadStatsSoon(); break;
      case "moderation.removed": chat.remove(ev.removed_seq); break;
      case "moderation.muted": chat.push(ev); break;
      case "product.pinned": showPinned(ev.product); break;
      case "product.unpinned": showPinned(null); break;
      case "stock.changed": {
        var card = state.products[ev.product];
        if (card) {
          var levels = {};
          (ev.variants || [{ id: ev.variant, stock: ev.stock }]).forEach(function (v) { levels[v.id] = v.stock; });
          var total = 0;
          (card.variants || []).forEach(function (v) { if (v.id in levels) v.stock = levels[v.id]; total += v.stock; });
          card.stock = typeof ev.total === "number" ? ev.total : total;
          stockText(ev.product, card.stock);
          if (Number(flashForm.elements.product.value) === ev.product) {
            var chosen = flashForm.elements.variant.value;
            fillVariants();
            if (chosen) flashForm.elements.variant.value = chosen;
          }
        }
        if (state.sale && state.sale.product === ev.product && typeof ev.sale_remaining === "number") {
          state.sale.remaining = ev.sale_remaining;
        }
        break;
      }
      case "flash_sale.started": showFlash(ev); break;
      case "flash_sale.ended": showFlash(null); state.sale = null; loadStatsSoon(); break;
      case "room.state": setStatus(ev.status); break;
    }
  }

  var socket = new window.LiveShopRoomSocket({
    url: config.ws,
    onHello: function (hello, info) {
      var room = hello.room || {};
      if (info.fresh) chat.reset((hello.recent || []).filter(function (ev) { return ev.type === "chat.message"; }));
      if ("pinned" in room) showPinned(room.pinned);
      if (room.pinned && room.pinned.sale && room.pinned.sale.status !== "ended") showFlash(room.pinned.sale);
      if (room.status) setStatus(room.status);
    },
    onEvents: function (events, batch) {
      events.forEach(handle);
      var folded = $("folded");
      folded.hidden = !batch.folded;
      if (batch.folded) folded.textContent = fmt(gettext("%(n)s messages skipped under load"), { n: batch.folded });
      root.dataset.seq = socket.lastSeq;
    },
    onStats: function (stats) {
      counter("viewers", stats.viewers);
      counter("likes", stats.likes);
    },
    onError: function (frame) {
      notice(frame.message || frame.code);
      // A refused pin leaves its button usable again.
      root.querySelectorAll('[data-action="pin"]').forEach(function (b) { b.disabled = false; });
    },
    onState: function (s) {
      $("reconnect").hidden = s !== "reconnecting";
      root.dataset.socket = s;
    },
    onClosed: function () {
      notice(gettext("The room connection was refused. Reload the page to try again."));
    },
  });

  setStatus(config.status);
  socket.connect();
  loadStats();
  window.hostConsole = { socket: socket, state: state, chat: chat, handle: handle };
  root.dataset.ready = "1";
})();

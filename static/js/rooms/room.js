/* The storefront live room (templates/rooms/room.html), mobile first.
 *
 * Everything live comes from the room socket (socket.js: hello, then batches): chat over the
 * lower third (chat.js: one render per animation frame, at most 60 nodes), likes (taps
 * batched into one `like {count}` frame per 300 ms, hearts drawn locally), gifts (catalog
 * from hello `room.gifts`, `gift.send` with a nonce, CSS animation per `animation` keyword,
 * leaderboard from the economy API refreshed on gift events), the pinned product card
 * (hello `room.pinned`, `product.pinned` / `product.unpinned` / `stock.changed`) bought in two
 * taps (commerce order API with an Idempotency-Key and the room, then the sandbox checkout in
 * a sheet over the video), flash sales with a countdown and the waitlist, "someone just
 * bought" toasts, viewers and likes from batch stats, moderation, and the ended state.
 * All text is built with textContent; strings go through Django's JavaScript catalog.
 */
(function () {
  "use strict";
  var gettext = window.gettext || function (s) { return s; };
  var root = document.querySelector("[data-live-room]");
  if (!root) return;
  var config = JSON.parse(document.getElementById("live-room-config").textContent);
  var R = window.LiveShopRoom;
  var el = R.el;
  var me = config.me;
  var LIKE_FLUSH_MS = 300;
  var LIKE_MAX = 50;
  var MAX_HEARTS = 24;
  var MAX_GIFT_ANIMS = 6;
  var GIFT_ANIMATIONS = ["float", "burst", "rain", "spin", "zoom"]; // rooms/economy.py documents them

  function $(name) { return root.querySelector('[data-field="' + name + '"]'); }
  function money(minor, currency) { return R.money(minor, currency || config.currency, currency && currency !== config.currency ? undefined : config.digits); }
  function fmt(text, values) {
    return window.interpolate ? window.interpolate(text, values, true)
      : text.replace(/%\((\w+)\)s/g, function (m, k) { return String(values[k]); });
  }

  var state = {
    status: config.status,
    gifts: [],
    pinned: null,
    flash: null, // {product, variant, price, units, left, ends_at (ms), over}
    offer: null, // a waitlist unit held for this shopper {product, variant, price}
    products: {}, // id → card (line-up, pins) for names in toasts
    likes: 0,
    mutedUntil: 0,
    waitlisted: false,
  };
  config.lineup.forEach(function (card) { state.products[card.id] = card; });

  // --- chat ------------------------------------------------------------------------------

  function renderEvent(ev) {
    switch (ev.type) {
      case "chat.message": {
        var li = el("li", "live-msg");
        if (me && ev.user && ev.user.id === me.id) li.classList.add("mine");
        var who = el("b", "live-msg-user", (ev.user && ev.user.name) || gettext("Someone"));
        if (ev.user && ev.user.badge) who.appendChild(el("span", "badge", ev.user.badge));
        li.appendChild(who);
        li.appendChild(el("span", "live-msg-text", ev.text));
        return li;
      }
      case "gift": {
        var g = el("li", "live-msg live-msg-gift");
        g.appendChild(el("b", "live-msg-user", (ev.user && ev.user.name) || gettext("Someone")));
        g.appendChild(el("span", "live-msg-text", fmt(gettext("sent %(gift)s × %(count)s"), {
          gift: (ev.gift && ev.gift.name) || "", count: ev.count || 1,
        })));
        return g;
      }
      case "assistant.answer":
        if (!window.LiveShopAssistant) return null;
        var holder = document.createElement("div");
        window.LiveShopAssistant.renderAnswer(ev, holder, { userId: me && me.id });
        var node = holder.firstChild;
        if (node) node.classList.add("live-msg");
        return node;
      case "notice":
        return el("li", "live-msg live-msg-notice", ev.text);
    }
    return null;
  }
  var chat = new window.LiveShopChatList($("chat"), { max: 60, render: renderEvent });

  var noticeTimer = null;
  function notice(text, link) {
    var box = $("notice");
    box.textContent = text || "";
    if (link) {
      box.appendChild(document.createTextNode(" "));
      var a = el("a", "", link.text);
      a.href = link.href;
      if (link.blank) { a.target = "_blank"; a.rel = "noopener"; }
      box.appendChild(a);
    }
    box.hidden = !text;
    clearTimeout(noticeTimer);
    if (text && !link) noticeTimer = setTimeout(function () { box.hidden = true; }, 6000);
  }

  var form = $("chat-form");
  if (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var input = form.elements.text;
      var text = input.value.trim();
      if (!text) return;
      if (state.mutedUntil && (state.mutedUntil === Infinity || state.mutedUntil > Date.now())) {
        showMuted();
        return;
      }
      if (socket.send({ type: "chat.send", text: text.slice(0, 300), nonce: socket.nonce() })) {
        input.value = "";
      } else {
        notice(gettext("Not connected. Your message was not sent."));
      }
    });
  }

  function showMuted() {
    if (state.mutedUntil === Infinity) {
      notice(gettext("You can no longer chat in this room."));
    } else {
      var until = new Date(state.mutedUntil);
      notice(fmt(gettext("You are muted until %(time)s."), {
        time: until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
      }));
    }
  }

  // --- likes: hearts now, one frame per 300 ms ----------------------------------------------

  var pendingLikes = 0;
  var likeTimer = null;
  function heart() {
    var layer = $("hearts");
    if (layer.children.length >= MAX_HEARTS) return;
    var h = el("span", "live-heart", "♥");
    h.style.setProperty("--drift", (Math.random() * 60 - 30).toFixed(0) + "px");
    h.style.setProperty("--hue", String(Math.floor(Math.random() * 60) + 330));
    h.addEventListener("animationend", function () { h.remove(); });
    layer.appendChild(h);
  }
  function flushLikes() {
    likeTimer = null;
    if (!pendingLikes) return;
    var count = Math.min(LIKE_MAX, pendingLikes);
    if (socket.send({ type: "like", count: count })) pendingLikes -= count;
    if (pendingLikes) likeTimer = setTimeout(flushLikes, LIKE_FLUSH_MS);
  }
  root.querySelector('[data-action="like"]').addEventListener("click", function (e) {
    heart();
    e.currentTarget.classList.remove("pop");
    void e.currentTarget.offsetWidth; // restart the pop animation
    e.currentTarget.classList.add("pop");
    if (!me) {
      // Watching is free; liking needs an account.
      notice(gettext("Sign in to chat, like and send gifts."), { text: gettext("Sign in"), href: config.login });
      return;
    }
    pendingLikes += 1;
    state.likes += 1;
    $("likes").textContent = String(state.likes);
    if (!likeTimer) likeTimer = setTimeout(flushLikes, LIKE_FLUSH_MS);
  });

  function showStats(stats) {
    if (typeof stats.viewers === "number") $("viewers").textContent = String(stats.viewers);
    if (typeof stats.likes === "number") {
      // Our own taps not yet counted by the server stay visible.
      state.likes = Math.max(stats.likes + pendingLikes, 0);
      $("likes").textContent = String(state.likes);
    }
  }

  // --- sheets (gifts, pay) ---------------------------------------------------------------

  function openSheet(name) {
    root.querySelectorAll("[data-sheet]").forEach(function (s) { s.hidden = s.dataset.sheet !== name; });
  }
  function closeSheets() {
    root.querySelectorAll("[data-sheet]").forEach(function (s) { s.hidden = true; });
    var frame = $("pay-frame");
    if (frame.getAttribute("src")) frame.removeAttribute("src");
  }
  root.querySelectorAll('[data-action="close-sheet"]').forEach(function (b) {
    b.addEventListener("click", function () {
      var paying = !root.querySelector('[data-sheet="pay"]').hidden;
      closeSheets();
      if (paying && buying.order) checkOrder(buying.order);
    });
  });

  // --- gifts ---------------------------------------------------------------------------------

  var pendingGifts = {}; // nonce → gift code
  function renderGifts() {
    var grid = $("gift-grid");
    grid.textContent = "";
    $("gift-empty").hidden = state.gifts.length > 0;
    state.gifts.forEach(function (gift) {
      var b = el("button", "live-gift");
      b.type = "button";
      b.dataset.gift = gift.code;
      b.dataset.test = "gift-" + gift.code;
      b.appendChild(el("span", "live-gift-icon gift-icon-" + safeAnimation(gift.animation), giftGlyph(gift)));
      b.appendChild(el("span", "live-gift-name", gift.name));
      b.appendChild(el("span", "live-gift-coins", fmt(gettext("%(coins)s coins"), { coins: gift.coins })));
      b.disabled = !me;
      b.addEventListener("click", function () { sendGift(gift); });
      grid.appendChild(b);
    });
  }
  function giftGlyph(gift) {
    var code = (gift.code || "").toLowerCase();
    var glyphs = { rose: "🌹", heart: "💖", star: "⭐", rocket: "🚀", crown: "👑", cake: "🎂", diamond: "💎", car: "🏎️" };
    return glyphs[code] || "🎁";
  }
  function safeAnimation(name) {
    return GIFT_ANIMATIONS.indexOf(name) === -1 ? "float" : name;
  }
  function loadWallet() {
    if (!me) return;
    R.api("GET", config.api.wallet).then(function (res) {
      if (res.ok && res.data) $("balance").textContent = String(res.data.balance);
    });
  }
  function sendGift(gift) {
    var nonce = socket.nonce();
    $("gift-error").hidden = true;
    if (!socket.send({ type: "gift.send", gift: gift.code, count: 1, nonce: nonce })) {
      giftError(gettext("Not connected. Please try again."));
      return;
    }
    pendingGifts[nonce] = gift.code;
  }
  function giftError(text, topUp) {
    var box = $("gift-error");
    box.textContent = text;
    if (topUp) {
      box.appendChild(document.createTextNode(" "));
      var a = el("a", "", gettext("Top up"));
      a.href = config.wallet_page; a.target = "_blank"; a.rel = "noopener";
      box.appendChild(a);
    }
    box.hidden = false;
  }
  root.querySelector('[data-action="gifts"]').addEventListener("click", function () {
    var sheet = root.querySelector('[data-sheet="gifts"]');
    if (!sheet.hidden) { closeSheets(); return; }
    openSheet("gifts");
    loadWallet();
  });

  function animateGift(ev) {
    var layer = $("gift-layer");
    if (layer.children.length >= MAX_GIFT_ANIMS) layer.removeChild(layer.firstChild);
    var gift = ev.gift || {};
    var anim = safeAnimation(gift.animation);
    var box = el("div", "live-gift-anim gift-anim-" + anim);
    box.dataset.test = "gift-animation";
    box.dataset.animation = anim;
    // Gifts arriving together take turns in three lanes instead of covering each other.
    box.style.marginTop = (layer.children.length % 3) * 3.4 + "rem";
    box.appendChild(el("span", "live-gift-anim-glyph", giftGlyph(gift)));
    box.appendChild(el("span", "live-gift-anim-text", fmt(gettext("%(name)s sent %(gift)s"), {
      name: (ev.user && ev.user.name) || gettext("Someone"), gift: gift.name || "",
    }) + (ev.count > 1 ? " ×" + ev.count : "")));
    box.addEventListener("animationend", function (e) { if (e.target === box) box.remove(); });
    setTimeout(function () { box.remove(); }, 6000); // in case the animation never runs
    layer.appendChild(box);
  }

  // --- leaderboard -------------------------------------------------------------------------

  var boardTimer = null;
  function loadLeaderboard() {
    R.api("GET", config.api.leaderboard).then(function (res) {
      if (!res.ok || !res.data) return;
      var list = $("leaderboard");
      list.textContent = "";
      var rows = (res.data.results || []).slice(0, 10);
      if (!rows.length) list.appendChild(el("li", "muted", gettext("No gifts yet. Be the first!")));
      rows.forEach(function (row, i) {
        var li = el("li");
        li.dataset.userId = row.user && row.user.id;
        li.appendChild(el("span", "live-rank", String(i + 1)));
        li.appendChild(el("span", "live-board-name", (row.user && row.user.name) || ""));
        li.appendChild(el("b", "", fmt(gettext("%(coins)s coins"), { coins: row.coins })));
        list.appendChild(li);
      });
    });
  }
  function refreshLeaderboardSoon() {
    clearTimeout(boardTimer);
    boardTimer = setTimeout(loadLeaderboard, 400);
  }
  root.querySelector('[data-action="leaderboard"]').addEventListener("click", function (e) {
    var list = $("leaderboard");
    list.hidden = !list.hidden;
    e.currentTarget.setAttribute("aria-expanded", String(!list.hidden));
    if (!list.hidden) loadLeaderboard();
  });

  // --- the pinned product and buying ---------------------------------------------------------

  var buying = { key: null, order: null, variant: null, busy: false };

  function showPinned(card) {
    var previous = state.pinned ? state.pinned.id : null;
    state.pinned = card || null;
    if (card && previous !== card.id) {
      // A newly pinned product: its sale's (or held offer's) variant first, if any.
      var held = state.offer && state.offer.product === card.id ? state.offer : null;
      var sale = state.flash && state.flash.product === card.id ? state.flash : null;
      buying.variant = (held && held.variant) || (sale && sale.variant) || null;
      buying.key = null;
    }
    var box = $("pinned");
    box.textContent = "";
    if (!card) { box.hidden = true; return; }
    state.products[card.id] = card;
    if (card.name_zh && /^zh/.test(document.documentElement.lang)) card.name = card.name_zh;
    box.hidden = false;
    box.dataset.productId = card.id;
    var variants = (card.variants || []).filter(function (v) { return v.is_active !== false; });
    if (!buying.variant || !variants.some(function (v) { return v.id === buying.variant; })) {
      var first = variants.filter(function (v) { return v.stock > 0; })[0] || variants[0];
      buying.variant = first ? first.id : null;
    }
    var head = el("div", "live-pinned-head");
    var image = (card.images || [])[0];
    if (image) {
      var img = el("img"); img.src = typeof image === "string" ? image : image.url; img.alt = ""; img.loading = "lazy";
      head.appendChild(img);
    }
    var info = el("div", "live-pinned-info");
    var link = el("a", "live-pinned-name", card.name);
    link.href = "/s/" + config.merchant + "/p/" + card.id + "/";
    link.target = "_blank"; link.rel = "noopener";
    info.appendChild(link);
    var chosen = variants.filter(function (v) { return v.id === buying.variant; })[0];
    var offer = state.offer && state.offer.product === card.id && (!state.offer.variant || state.offer.variant === buying.variant) ? state.offer : null;
    var flash = offer || (flashOn(card.id, buying.variant) ? state.flash : null);
    var price = flash ? flash.price : chosen ? chosen.price : card.price;
    var priceRow = el("div", "live-pinned-price");
    priceRow.appendChild(el("b", "price", money(price, card.currency)));
    if (flash && chosen && chosen.price > flash.price) priceRow.appendChild(el("s", "muted", money(chosen.price, card.currency)));
    var stock = chosen ? chosen.stock : card.stock;
    if (flash && !offer && typeof state.flash.left === "number") stock = Math.min(stock, state.flash.left);
    if (offer) stock = Math.max(stock, 1); // the held unit is ours
    var stockText = stock > 0 ? fmt(gettext("%(n)s left"), { n: stock }) : gettext("Sold out");
    priceRow.appendChild(el("span", "live-pinned-stock" + (stock > 0 ? "" : " out"), stockText));
    info.appendChild(priceRow);
    head.appendChild(info);
    box.appendChild(head);

    if (variants.length > 1) {
      var chips = el("div", "live-variants");
      chips.setAttribute("role", "radiogroup");
      variants.forEach(function (v) {
        var b = el("button", "live-variant" + (v.id === buying.variant ? " on" : ""), v.name || v.label || "#" + v.id);
        b.type = "button";
        b.dataset.variant = v.id;
        b.dataset.test = "variant";
        b.setAttribute("role", "radio");
        b.setAttribute("aria-checked", String(v.id === buying.variant));
        b.disabled = v.stock <= 0;
        b.addEventListener("click", function () { buying.variant = v.id; buying.key = null; showPinned(state.pinned); });
        chips.appendChild(b);
      });
      box.appendChild(chips);
    }
    var buy = el("button", "btn btn-block live-buy", stock > 0 ? gettext("Buy now") : gettext("Sold out"));
    buy.type = "button";
    buy.dataset.test = "buy";
    buy.disabled = stock <= 0 || buying.busy;
    buy.addEventListener("click", buyPinned);
    box.appendChild(buy);
  }

  function buyPinned() {
    var card = state.pinned;
    if (!card) return;
    if (!me) { window.location.href = config.login; return; }
    if (buying.busy) return;
    buying.busy = true;
    // One key per purchase intent: a retried tap after a lost answer is the same order.
    buying.key = buying.key || "room-" + socket.nonce();
    var line = { product: card.id, quantity: 1 };
    if (buying.variant) line.variant = buying.variant;
    notice(gettext("Placing your order…"));
    R.api("POST", config.api.orders, { lines: [line], room: config.room }, { "Idempotency-Key": buying.key })
      .then(function (res) {
        if (!res.ok) {
          buying.key = null;
          var err = res.data && res.data.error;
          if (err && err.code === "sold_out") {
            // The flash sale ran out: offer the waitlist.
            if (state.flash) { state.flash.left = 0; showFlash(); }
            notice(err.message);
          } else if (err && err.code === "out_of_stock") notice(gettext("Sorry, that just sold out."));
          else notice(R.errorText(res));
          return null;
        }
        buying.order = res.data;
        state.lastOrder = res.data;
        buying.key = null;
        return pay(res.data);
      })
      .then(function () { buying.busy = false; if (state.pinned) showPinned(state.pinned); });
  }

  function pay(order) {
    return R.api("POST", config.api.orders + "/" + order.id + "/pay", undefined, { "Idempotency-Key": "room-pay-" + order.id })
      .then(function (res) {
        if (!res.ok || !res.data || !res.data.redirect_url) { notice(R.errorText(res)); return; }
        notice("");
        $("paid").hidden = true;
        $("pay-title").textContent = fmt(gettext("Pay %(amount)s"), { amount: money(order.total, order.currency) });
        var frame = $("pay-frame");
        frame.hidden = false;
        frame.src = res.data.redirect_url;
        openSheet("pay");
      });
  }

  $("pay-frame").addEventListener("load", function () {
    // Back on our own order page inside the frame: the payment was decided.
    var path = "";
    try { path = this.contentWindow.location.pathname; } catch (e) { return; }
    if (buying.order && path.indexOf("/orders/") !== -1) checkOrder(buying.order, 0);
  });

  function checkOrder(order, attempt) {
    attempt = attempt || 0;
    R.api("GET", config.api.orders + "/" + order.id).then(function (res) {
      if (!res.ok || !res.data) return;
      if (res.data.status === "paid" || res.data.status === "fulfilled") {
        $("paid").hidden = false;
        $("pay-frame").hidden = true;
        buying.order = null;
        state.offer = null;
        notice(gettext("Paid. Thank you!"));
        setTimeout(function () { if (!$("paid").hidden) closeSheets(); }, 2500);
      } else if (res.data.status === "pending_payment" && attempt < 10) {
        // The webhook may still be on its way.
        setTimeout(function () { checkOrder(order, attempt + 1); }, 700);
      }
    });
  }

  function stockChanged(ev) {
    var card = state.products[ev.product];
    if (card) {
      var levels = {};
      (ev.variants || [{ id: ev.variant, stock: ev.stock }]).forEach(function (v) { levels[v.id] = v.stock; });
      var total = 0;
      (card.variants || []).forEach(function (v) {
        if (v.id in levels) v.stock = levels[v.id];
        total += v.stock;
      });
      card.stock = typeof ev.total === "number" ? ev.total : total;
      if (state.pinned && state.pinned !== card && state.pinned.id === ev.product) {
        state.pinned.variants = card.variants; state.pinned.stock = card.stock;
      }
    }
    if (state.flash && state.flash.product === ev.product && typeof ev.sale_remaining === "number") {
      state.flash.left = ev.sale_remaining;
      showFlash();
    }
    if (state.pinned && state.pinned.id === ev.product) showPinned(state.pinned);
  }

  // --- flash sale and waitlist ---------------------------------------------------------------
  // rooms/selling.py: a sale is one variant at a price for `units` units until `ends_at`
  // (epoch ms); `stock.changed` carries `sale_remaining`. Sold out → the waitlist (POST/GET
  // …/waitlist: {status: none|waiting|offered|bought|…, position, offer_expires_at}).

  var flashTimer = null;
  function startFlash(sale) {
    if (!sale) { endFlash(); return; }
    state.flash = {
      product: sale.product && sale.product.id ? sale.product.id : sale.product,
      variant: sale.variant || null,
      price: sale.price,
      units: sale.units,
      left: typeof sale.remaining === "number" ? sale.remaining : sale.units,
      ends_at: R.ms(sale.ends_at),
      over: sale.status === "ended",
    };
    if (state.flash.variant && state.pinned && state.pinned.id === state.flash.product) {
      buying.variant = state.flash.variant; // the sale's variant is the one to buy
    }
    showFlash();
    clearInterval(flashTimer);
    flashTimer = setInterval(tickFlash, 250);
    tickFlash();
    if (state.pinned) showPinned(state.pinned);
  }
  function flashOn(productId, variantId) {
    var f = state.flash;
    return !!f && !f.over && f.left > 0 && f.product === productId && (!f.variant || !variantId || f.variant === variantId);
  }
  function showFlash() {
    var f = state.flash;
    var box = $("flash");
    if (!f) { box.hidden = true; return; }
    var card = state.products[f.product];
    box.hidden = false;
    box.dataset.productId = f.product;
    box.dataset.state = f.over ? "ended" : f.left > 0 ? "running" : "sold-out";
    $("flash-name").textContent = card ? card.name : "";
    $("flash-price").textContent = money(f.price, card && card.currency);
    var soldOut = f.left <= 0;
    $("flash-units").textContent = soldOut ? gettext("Sold out")
      : fmt(gettext("%(left)s of %(units)s left"), { left: f.left, units: f.units });
    $("waitlist").hidden = !soldOut;
  }
  function tickFlash() {
    var f = state.flash;
    if (!f) return;
    var left = Math.max(0, Math.round((f.ends_at - Date.now()) / 1000));
    $("flash-clock").textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left <= 0) { clearInterval(flashTimer); f.over = true; showFlash(); if (state.pinned) showPinned(state.pinned); }
  }
  function endFlash(ev) {
    clearInterval(flashTimer);
    var f = state.flash;
    if (f && ev && (f.left <= 0 || ev.reason === "sold_out")) {
      // Sold out: the waitlist stays open for units that come back.
      f.over = true; f.left = 0; showFlash();
      $("flash-clock").textContent = gettext("ended");
    } else if (!state.waitlisted) {
      state.flash = null;
      showFlash();
    }
    if (state.pinned) showPinned(state.pinned);
  }
  var joinButton = root.querySelector('[data-action="waitlist-join"]');
  joinButton.addEventListener("click", function () {
    if (!me) { window.location.href = config.login; return; }
    joinButton.disabled = true;
    R.api("POST", config.api.waitlist, {}).then(function (res) {
      joinButton.disabled = false;
      if (!res.ok) { $("waitlist-status").textContent = R.errorText(res); return; }
      showWaitlist(res.data);
    });
  });
  var waitTimer = null;
  function pollWaitlist() {
    clearTimeout(waitTimer);
    if (!state.waitlisted) return;
    waitTimer = setTimeout(function () {
      R.api("GET", config.api.waitlist).then(function (res) {
        if (res.ok) showWaitlist(res.data);
        else pollWaitlist();
      });
    }, 3000);
  }
  function showWaitlist(data) {
    if (!data) return;
    var status = $("waitlist-status");
    var waiting = data.status === "waiting" || data.status === "offered";
    state.waitlisted = waiting;
    joinButton.hidden = data.status !== "none";
    if (data.sale && (!state.flash || state.flash.product !== data.sale.product) && waiting) startFlash(data.sale);
    if (data.status === "waiting") {
      status.textContent = fmt(gettext("You are number %(n)s on the waitlist."), { n: data.position });
    } else if (data.status === "offered") {
      var until = new Date(R.ms(data.offer_expires_at));
      status.textContent = fmt(gettext("A unit is held for you until %(time)s: buy it now!"), {
        time: until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }),
      });
      var sale = data.sale || state.flash;
      if (sale) {
        state.offer = { product: sale.product, variant: sale.variant, price: sale.price };
        var card = state.products[sale.product];
        if (card && (!state.pinned || state.pinned.id !== card.id)) showPinned(card);
        else if (state.pinned) showPinned(state.pinned);
      }
    } else if (data.status === "bought") {
      status.textContent = gettext("You got it. Thank you!");
      state.offer = null;
    } else if (data.status !== "none") {
      status.textContent = gettext("Your waitlist offer has lapsed.");
      state.offer = null;
    }
    $("waitlist").hidden = false;
    $("flash").hidden = false;
    if (waiting) pollWaitlist();
  }

  // --- toasts --------------------------------------------------------------------------------

  function toast(text) {
    var box = $("toasts");
    var t = el("div", "live-toast", text);
    t.dataset.test = "purchase-toast";
    box.appendChild(t);
    while (box.children.length > 3) box.removeChild(box.firstChild);
    setTimeout(function () { t.classList.add("out"); }, 3500);
    setTimeout(function () { t.remove(); }, 4200);
  }
  function purchased(ev) {
    var card = state.products[ev.product];
    var name = (card && card.name) || (ev.name) || gettext("an item");
    toast(ev.city ? fmt(gettext("Someone in %(city)s just bought %(name)s"), { city: ev.city, name: name })
      : fmt(gettext("Someone just bought %(name)s"), { name: name }));
  }

  // --- room state ------------------------------------------------------------------------------

  function setStatus(status) {
    if (!status) return;
    state.status = status;
    root.dataset.status = status;
    $("ended").hidden = status !== "ended";
    var text = { scheduled: gettext("Scheduled"), live: gettext("Live"), ended: gettext("Ended") }[status];
    if (text) $("status-text").textContent = text;
    if (status === "ended") { closeSheets(); endFlash(); }
  }

  // --- the socket --------------------------------------------------------------------------------

  function handle(ev) {
    switch (ev.type) {
      case "chat.message":
      case "assistant.answer":
        chat.push(ev);
        break;
      case "gift":
        chat.push(ev);
        animateGift(ev);
        refreshLeaderboardSoon();
        if (ev.nonce && pendingGifts[ev.nonce]) { delete pendingGifts[ev.nonce]; loadWallet(); }
        break;
      case "product.pinned": showPinned(ev.product); break;
      case "product.unpinned": showPinned(null); break;
      case "stock.changed": stockChanged(ev); break;
      case "flash_sale.started": startFlash(ev); break;
      case "flash_sale.ended": endFlash(ev); break;
      case "purchase": purchased(ev); break;
      case "moderation.removed": chat.remove(ev.removed_seq); break;
      case "moderation.muted":
        if (me && ev.user && ev.user.id === me.id) {
          if (ev.lifted) {
            state.mutedUntil = 0;
            notice(gettext("You can chat again."));
          } else {
            state.mutedUntil = ev.until === null || ev.until === undefined ? Infinity : R.ms(ev.until);
            showMuted();
          }
        }
        break;
      case "room.state": setStatus(ev.status); break;
    }
  }

  function onError(frame) {
    var code = frame.code;
    if (frame.nonce && pendingGifts[frame.nonce]) {
      delete pendingGifts[frame.nonce];
      giftError(frame.message || code, code === "insufficient_coins");
      openSheet("gifts");
      return;
    }
    if (code === "auth_required" || code === "unauthenticated" || code === "not_authenticated" || !me) {
      notice(gettext("Sign in to chat, like and send gifts."), { text: gettext("Sign in"), href: config.login });
      return;
    }
    if (code === "muted" || code === "banned") {
      if (code === "banned") state.mutedUntil = Infinity;
      notice(frame.message || gettext("You cannot chat right now."));
      return;
    }
    if (code === "rate_limited" || code === "slow_mode" || code === "throttled") {
      notice(frame.message || gettext("Slow down a little."));
      return;
    }
    notice(frame.message || gettext("That did not work."));
  }

  var socket = new window.LiveShopRoomSocket({
    url: config.ws,
    onHello: function (hello, info) {
      var room = hello.room || {};
      if (info.fresh) {
        // First connection, or too much was missed: show the room as it is now.
        chat.reset((hello.recent || []).filter(function (ev) { return ev.type === "chat.message" || ev.type === "gift"; }));
        if (hello.gap) notice(gettext("You missed some messages while offline."));
      }
      state.gifts = room.gifts || [];
      renderGifts();
      if ("pinned" in room) showPinned(room.pinned);
      if (room.pinned && room.pinned.sale) startFlash(room.pinned.sale);
      if (room.status) setStatus(room.status);
      if (room.stats) showStats(room.stats);
      root.dataset.seq = hello.seq;
    },
    onEvents: function (events, batch) {
      events.forEach(handle);
      var folded = $("folded");
      if (batch.folded) {
        folded.textContent = fmt(gettext("+%(n)s more messages"), { n: batch.folded });
        folded.hidden = false;
        clearTimeout(folded._t);
        folded._t = setTimeout(function () { folded.hidden = true; }, 1500);
      }
      root.dataset.seq = socket.lastSeq;
    },
    onStats: showStats,
    onError: onError,
    onState: function (s) {
      $("reconnect").hidden = s !== "reconnecting";
      root.dataset.socket = s;
    },
    onClosed: function (code) {
      if (code === 4404) notice(gettext("This room is not available."));
      else notice(gettext("The connection was refused. Reload the page to try again."));
    },
  });

  setStatus(state.status);
  loadLeaderboard();
  if (me) R.api("GET", config.api.waitlist).then(function (res) { if (res.ok && res.data && res.data.status !== "none") showWaitlist(res.data); });
  socket.connect();
  window.liveRoom = { socket: socket, state: state, chat: chat, handle: handle };
  root.dataset.ready = "1"; // handlers bound (tests wait for it)
})();

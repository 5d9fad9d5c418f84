/* The agent's consult console: presence (online / busy / away) with a heartbeat, the live
   queue with each request's context (polled), offers to accept, and the call workspace:
   video with camera off / audio only / screen share, chat, product search to push cards
   and build the shopper's cart, recording consent, ending with notes. */
(function () {
  "use strict";
  var C = window.LiveShopConsults;
  var root = document.getElementById("consult-console");
  if (!root || !C) return;
  var d = root.dataset;
  var T = document.getElementById("console-i18n").dataset;
  var POLL_MS = 2000, HEARTBEAT_MS = 15000;

  function $(sel) { return root.querySelector(sel); }
  function field(name) { return root.querySelector('[data-field="' + name + '"]'); }
  function fmt(text, values) { return text.replace(/%\((\w+)\)s/g, function (_, k) { return values[k]; }); }
  function note(text) { var b = field("status"); b.hidden = !text; b.textContent = text || ""; }
  function ago(iso) {
    var s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min";
  }

  var current = null;      // {id, session, consult}
  var cartLines = [];      // [{product, variant, quantity, name, label}]
  var cartStatus = "";
  var lastFeed = null;

  // --- presence -------------------------------------------------------------------------
  function presence(body) {
    return C.api("POST", d.apiPresence, body).then(function (res) {
      if (!res.ok) { note(C.errorText(res)); return; }
      // The badge shows the status as its button names it (translated by the template).
      var named = root.querySelector('button[data-status="' + res.data.status + '"]');
      field("presence").textContent = named ? named.textContent : res.data.status;
      field("presence").className = "badge " + (res.data.status === "online" ? "badge-ok" : res.data.status === "busy" ? "badge-warn" : "");
      root.querySelectorAll("[data-status]").forEach(function (b) {
        b.className = "btn btn-sm" + (b.dataset.status === res.data.status ? "" : " btn-secondary");
      });
      poll();
    });
  }
  root.querySelectorAll("[data-status]").forEach(function (b) {
    b.addEventListener("click", function () { presence({status: b.dataset.status}); });
  });
  $('[data-action="routing"]').addEventListener("submit", function (e) {
    e.preventDefault();
    var f = e.target.elements;
    function list(v) { return v.split(",").map(function (x) { return x.trim().toLowerCase(); }).filter(Boolean); }
    presence({languages: list(f.languages.value), skills: list(f.skills.value),
      max_concurrent: parseInt(f.max_concurrent.value, 10) || 1});
  });
  setInterval(function () { C.api("POST", d.apiPresence, {}); }, HEARTBEAT_MS);

  // --- the queue --------------------------------------------------------------------------
  function contextCell(c) {
    var x = c.shopper_context || {};
    var parts = [];
    if (x.room) parts.push(C.el("div", {text: T.room + ": " + x.room}));
    if (x.pinned_product) parts.push(C.el("div", {text: T.pinned + ": " + x.pinned_product.name}));
    if (x.recent_chat && x.recent_chat.length) {
      parts.push(C.el("div", {"class": "muted", text: T.said + ": " + x.recent_chat.map(function (m) { return "“" + m.text + "”"; }).join(" ")}));
    }
    parts.push(C.el("div", {"class": "muted", text: T.orders + ": " + x.orders_count + " · " + C.money(x.paid_total || 0, d.currency)}));
    return C.el("td", {}, parts);
  }

  function queueRow(c) {
    var button = C.el("button", {"class": "btn btn-sm", type: "button", "data-test": "accept", text: T.accept});
    button.addEventListener("click", function () { accept(c.id); });
    var asking = [c.topic, c.language].filter(Boolean).join(" · ");
    return C.el("tr", {"data-test": "queue-row", "data-consult": c.id}, [
      C.el("td", {}, [C.el("strong", {text: c.shopper.name}), C.el("div", {"class": "muted", text: c.shopper.email})]),
      C.el("td", {}, [
        C.el("div", {text: c.product ? c.product.name : "—"}),
        C.el("div", {"class": "muted", text: asking}),
        c.question ? C.el("div", {text: "“" + c.question + "”"}) : null
      ]),
      contextCell(c),
      C.el("td", {text: ago(c.created_at) + (c.offered_to ? " · " + (c.offered_to === parseInt(d.user, 10) ? T.offered : "…") : "")}),
      C.el("td", {}, [button])
    ]);
  }

  function render(feed) {
    lastFeed = feed;
    field("waiting").textContent = feed.queue.length;
    var body = field("queue");
    body.textContent = "";
    if (!feed.queue.length) body.appendChild(C.el("tr", {}, [C.el("td", {colspan: "5", "class": "empty", text: T.nobody})]));
    feed.queue.forEach(function (c) { body.appendChild(queueRow(c)); });
    var offers = field("offers");
    offers.textContent = "";
    feed.offers.forEach(function (c) {
      var b = C.el("button", {"class": "btn", type: "button", "data-test": "accept-offer", text: T.accept + " — " + c.shopper.name});
      b.addEventListener("click", function () { accept(c.id); });
      offers.appendChild(C.el("div", {"class": "alert alert-warning row spread"}, [C.el("strong", {text: T.offered}), b]));
    });
    var mine = field("active");
    mine.textContent = "";
    feed.active.forEach(function (c) {
      var open = C.el("button", {"class": "btn btn-secondary btn-sm", type: "button", "data-test": "open-call", text: T.open});
      open.addEventListener("click", function () { openCall(c); });
      mine.appendChild(C.el("li", {"class": "row spread", "data-consult": c.id}, [
        C.el("span", {text: c.shopper.name + " · " + ago(c.accepted_at)}), open
      ]));
      if (current && current.id === c.id) { current.consult = c; renderContext(c); }
    });
    if (current && !feed.active.some(function (c) { return c.id === current.id; }) && current.session.ended) closeCall();
    if (!current && feed.active.length) openCall(feed.active[0]);
  }

  function poll() {
    return C.api("GET", d.apiConsole).then(function (res) { if (res.ok) render(res.data); });
  }
  setInterval(poll, POLL_MS);
  poll();

  function accept(id) {
    note("");
    C.api("POST", d.apiAccept, id ? {consult: id} : {}).then(function (res) {
      if (!res.ok) { note(C.errorText(res)); poll(); return; }
      openCall(res.data.consult);
      poll();
    });
  }
  $('[data-action="accept-next"]').addEventListener("click", function () { accept(null); });

  // --- the call -------------------------------------------------------------------------------
  function renderContext(c) {
    var box = field("context");
    box.textContent = "";
    var x = c.shopper_context || {};
    box.appendChild(C.el("p", {}, [C.el("strong", {text: c.shopper.name}), C.el("span", {"class": "muted", text: " " + c.shopper.email})]));
    if (c.question) box.appendChild(C.el("p", {text: "“" + c.question + "”"}));
    if (c.product) box.appendChild(C.el("p", {text: "↳ " + c.product.name}));
    if (x.room) box.appendChild(C.el("p", {"class": "muted", text: T.room + ": " + x.room + (x.pinned_product ? " · " + T.pinned + ": " + x.pinned_product.name : "")}));
    (x.recent_chat || []).forEach(function (m) { box.appendChild(C.el("p", {"class": "muted", text: "“" + m.text + "”"})); });
    var orders = C.el("ul", {});
    (x.past_orders || []).forEach(function (o) {
      orders.appendChild(C.el("li", {text: "#" + o.number + " · " + C.orderStatus(o.status) + " · " + C.money(o.total, o.currency)}));
    });
    box.appendChild(C.el("p", {"class": "muted", text: T.orders + ": " + (x.orders_count || 0)}));
    box.appendChild(orders);
  }

  function addMessage(m) {
    var list = field("messages");
    list.appendChild(C.el("li", {"class": "consult-msg " + m.party, "data-party": m.party}, [
      C.el("strong", {text: (m.user ? m.user.name : "") + ": "}), C.el("span", {text: m.text})
    ]));
    while (list.children.length > 200) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }

  function renderCart(order) {
    var body = field("cart-lines");
    body.textContent = "";
    cartStatus = order ? order.status : "";
    field("cart-status").textContent = cartStatus ? C.orderStatus(cartStatus) : "";
    field("cart-status").dataset.status = cartStatus;
    field("cart-status").hidden = !cartStatus;
    cartLines = [];
    if (!order) {
      field("cart-total").textContent = "—";
      $('[data-action="send-cart"]').disabled = true;
      return;
    }
    order.lines.forEach(function (line) {
      cartLines.push({product: line.product, variant: line.variant, quantity: line.quantity});
      var qty = C.el("input", {type: "number", min: "1", max: "999", value: String(line.quantity), style: "width:4.5rem"});
      var remove = C.el("button", {"class": "btn btn-ghost btn-sm", type: "button", text: "✕", title: T.remove});
      var index = cartLines.length - 1;
      qty.disabled = remove.disabled = order.status !== "draft";
      qty.addEventListener("change", function () { cartLines[index].quantity = parseInt(qty.value, 10) || 1; saveCart(); });
      remove.addEventListener("click", function () { cartLines.splice(index, 1); saveCart(); });
      body.appendChild(C.el("tr", {"data-test": "cart-line"}, [
        C.el("td", {}, [qty]),
        C.el("td", {text: line.name + (line.variant_label ? " (" + line.variant_label + ")" : "")}),
        C.el("td", {"class": "num", text: C.money(line.line_total, order.currency)}),
        C.el("td", {}, [remove])
      ]));
    });
    field("cart-total").textContent = C.money(order.total, order.currency);
    $('[data-action="send-cart"]').disabled = order.status !== "draft" || !order.lines.length;
    if (order.status !== "draft") cartLines = [];  // the next edit starts a new cart
  }

  function saveCart() {
    if (!current) return;
    C.api("PUT", d.apiConsults + "/" + current.id + "/cart", {lines: cartLines.map(function (l) {
      var line = {product: l.product, quantity: l.quantity};
      if (l.variant) line.variant = l.variant;
      return line;
    })}).then(function (res) {
      if (!res.ok) { note(C.errorText(res)); return; }
      note("");
      renderCart(res.data);
    });
  }

  function addToCart(product, variantId) {
    var existing = cartLines.filter(function (l) { return l.product === product.id && l.variant === variantId; })[0];
    if (existing) existing.quantity += 1;
    else cartLines.push({product: product.id, variant: variantId, quantity: 1});
    saveCart();
  }

  function resultRow(p) {
    var variants = (p.variants || []).filter(function (v) { return v.is_active; });
    var select = C.el("select", {"aria-label": "variant", style: "width:auto"});
    variants.forEach(function (v) {
      var o = C.el("option", {value: String(v.id), text: (v.label || "—") + " · " + v.stock});
      if (v.stock <= 0) o.disabled = true;
      select.appendChild(o);
    });
    var push = C.el("button", {"class": "btn btn-secondary btn-sm", type: "button", "data-test": "push-product", text: T.push});
    push.addEventListener("click", function () {
      if (current) current.session.send({type: "product.push", product: p.id, nonce: C.uuid()});
    });
    var add = C.el("button", {"class": "btn btn-sm", type: "button", "data-test": "add-to-cart", text: T.add});
    add.addEventListener("click", function () { addToCart(p, parseInt(select.value, 10) || null); });
    return C.el("li", {"class": "row spread", "data-test": "product-result", "data-product-id": String(p.id)}, [
      C.el("span", {}, [C.el("strong", {text: p.name}), C.el("span", {"class": "muted", text: " " + C.money(p.price, p.currency) + " · " + p.stock})]),
      C.el("span", {"class": "row"}, [variants.length > 1 ? select : null, push, add])
    ]);
  }

  $('[data-action="search"]').addEventListener("submit", function (e) {
    e.preventDefault();
    var q = e.target.elements.q.value.trim();
    C.api("GET", d.apiProducts + "?active=1&page_size=20&q=" + encodeURIComponent(q)).then(function (res) {
      var list = field("results");
      list.textContent = "";
      if (!res.ok) { note(C.errorText(res)); return; }
      res.data.results.forEach(function (p) { list.appendChild(resultRow(p)); });
    });
  });

  $('[data-action="send-cart"]').addEventListener("click", function () {
    if (!current) return;
    C.api("POST", d.apiConsults + "/" + current.id + "/cart/send", {}).then(function (res) {
      if (!res.ok) { note(C.errorText(res)); return; }
      renderCart(res.data);
    });
  });

  function openCall(c) {
    if (current && current.id === c.id) return;
    if (current) current.session.close();
    field("messages").textContent = "";
    field("results").textContent = "";
    renderCart(null);
    root.querySelector('[data-panel="call"]').hidden = false;
    root.querySelector('[data-panel="call"]').dataset.consult = c.id;
    field("call-title").textContent = fmt(T["with"], {name: c.shopper.name});
    if (c.shopper_context) renderContext(c);
    var session = new C.ConsultSession({
      joinUrl: d.apiConsults + "/" + c.id + "/join",
      local: document.getElementById("local-video"),
      remote: document.getElementById("remote-video"),
      onStatus: note,
      onClosed: function () { poll(); },
      onFrame: function (frame) {
        if (!current || current.session !== session) return;
        switch (frame.type) {
          case "consult.state":
            (frame.consult.messages || []).forEach(function (m) { addMessage({party: m.party, user: m.user, text: m.text}); });
            renderCart(frame.consult.cart);
            field("rec").hidden = !(frame.consult.consent && frame.consult.consent.recording);
            $('[data-action="consent"]').checked = !!(frame.consult.consent && frame.consult.consent.agent);
            break;
          case "chat.message": addMessage(frame); break;
          case "product.pushed": addMessage({party: "system", user: null, text: "→ " + frame.product.name}); break;
          case "cart.updated": renderCart(frame.order); break;
          case "recording.consent":
            field("rec").hidden = !frame.recording;
            $('[data-action="consent"]').checked = frame.consent.agent === true;
            break;
          case "media.state":
            if (frame.party === "agent") break;
            field("remote-note").hidden = frame.video === "camera";
            field("remote-note").textContent = T.theirCameraOff;
            break;
          case "consult.ended": setTimeout(closeCall, 300); poll(); break;
          case "error": note(frame.message); break;
        }
      }
    });
    current = {id: c.id, session: session, consult: c};
    window.consultSession = session;  // tests read getStats through it
    session.connect();
    session.startMedia();
  }

  function closeCall() {
    if (current) current.session.close();
    current = null;
    root.querySelector('[data-panel="call"]').hidden = true;
    field("remote-note").hidden = true;
  }

  $('[data-action="chat"]').addEventListener("submit", function (e) {
    e.preventDefault();
    var input = e.target.elements.text;
    if (current && input.value.trim() && current.session.send({type: "chat.send", text: input.value.trim(), nonce: C.uuid()})) input.value = "";
  });
  $('[data-action="consent"]').addEventListener("change", function (e) {
    if (current) current.session.send({type: "recording.consent", granted: e.target.checked});
  });
  var mic = true, cam = true, audioOnly = false;
  $('[data-action="mic"]').addEventListener("click", function (e) {
    if (!current) return;
    mic = !mic; current.session.setMic(mic); e.target.textContent = mic ? T.mute : T.unmute;
  });
  $('[data-action="camera"]').addEventListener("click", function (e) {
    if (!current) return;
    cam = !cam; current.session.setCamera(cam); e.target.textContent = cam ? T.cameraOff : T.cameraOn;
  });
  $('[data-action="audio-only"]').addEventListener("click", function (e) {
    if (!current) return;
    audioOnly = !audioOnly;
    current.session.setAudioOnly(audioOnly).catch(function (err) { note(String(err)); });
    e.target.textContent = audioOnly ? T.videoBack : T.audioOnly;
    document.getElementById("remote-video").classList.toggle("audio-only", audioOnly);
  });
  $('[data-action="screen"]').addEventListener("click", function (e) {
    if (!current) return;
    current.session.shareScreen().then(function () {
      e.target.textContent = current.session.screenTrack ? T.stopShare : T.share;
    }).catch(function (err) { note(String(err)); });
  });
  $('[data-action="end"]').addEventListener("submit", function (e) {
    e.preventDefault();
    if (!current) return;
    var notes = e.target.elements.notes.value;
    C.api("POST", d.apiConsults + "/" + current.id + "/end", {notes: notes}).then(function (res) {
      if (!res.ok) { note(C.errorText(res)); return; }
      e.target.elements.notes.value = "";
      closeCall();
      poll();
    });
  });
  root.dataset.ready = "1";  // handlers bound (tests wait for it)
})();

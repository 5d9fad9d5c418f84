/* The shopper's consult page: queue position and wait, then the call (video, chat, the
   products the agent pushes, the cart they build, paying it in an overlay without leaving
   the call, recording consent), then the rating. */
(function () {
  "use strict";
  var C = window.LiveShopConsults;
  var root = document.getElementById("consult-call");
  if (!root || !C) return;
  var T = document.getElementById("consult-i18n").dataset;
  var d = root.dataset;
  var currency = d.currency;

  function $(sel) { return root.querySelector(sel); }
  function field(name) { return root.querySelector('[data-field="' + name + '"]'); }
  function panel(name) { return root.querySelector('[data-panel="' + name + '"]'); }
  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, k) { return values[k]; });
  }

  var state = {status: d.status, cart: null, paying: null, consent: false};

  function show(status) {
    state.status = status;
    root.dataset.status = status;
    var queued = status === "waiting" || status === "offered";
    panel("waiting").hidden = !queued;
    panel("call").hidden = status !== "active";
    panel("ended").hidden = queued || status === "active";
    panel("side").hidden = !(queued || status === "active");
    // Only a call that happened is rated.
    $('[data-action="rate"]').hidden = status !== "ended" || $('[data-action="rate"]').dataset.done === "1";
  }

  function note(text, kind) {
    var box = field("status");
    box.hidden = !text;
    box.textContent = text || "";
    box.className = "alert " + (kind === "warn" ? "alert-warning" : "alert-error");
  }

  function queue(q) {
    if (!q) return;
    field("position").textContent = q.position <= 1 ? T.next : fmt(T.position, {n: q.position});
    field("eta").textContent = q.eta_s < 60 ? T.etaSoon : fmt(T.eta, {n: Math.round(q.eta_s / 60)});
    root.dataset.position = q.position;
  }

  function addMessage(m) {
    var list = field("messages");
    var li = C.el("li", {"class": "consult-msg " + m.party, "data-party": m.party}, [
      C.el("strong", {text: (m.user ? m.user.name : "") + ": "}),
      C.el("span", {text: m.text})
    ]);
    list.appendChild(li);
    while (list.children.length > 200) list.removeChild(list.firstChild);
    list.scrollTop = list.scrollHeight;
  }

  function addProduct(p) {
    panel("products").hidden = false;
    var box = field("products");
    var existing = box.querySelector('[data-product-id="' + p.id + '"]');
    if (existing) existing.remove();
    var card = C.el("div", {"class": "consult-product", "data-test": "pushed-product", "data-product-id": String(p.id)}, [
      p.image ? C.el("img", {src: p.image, alt: ""}) : C.el("div", {"class": "ph"}),
      C.el("div", {"class": "body"}, [
        C.el("strong", {text: p.name}),
        C.el("div", {"class": "price", text: C.money(p.price, p.currency || currency)}),
        C.el("small", {"class": "muted", text: p.variants.map(function (v) { return v.label; }).filter(Boolean).join(" · ")})
      ])
    ]);
    box.insertBefore(card, box.firstChild);
  }

  function renderCart(order) {
    state.cart = order;
    if (!order) { panel("cart").hidden = true; return; }
    panel("cart").hidden = order.status === "draft" && !order.lines.length;
    var body = field("cart-lines");
    body.textContent = "";
    order.lines.forEach(function (line) {
      body.appendChild(C.el("tr", {"data-test": "cart-line"}, [
        C.el("td", {text: line.quantity + " ×"}),
        C.el("td", {text: line.name + (line.variant_label ? " (" + line.variant_label + ")" : "")}),
        C.el("td", {"class": "num", text: C.money(line.line_total, order.currency)})
      ]));
    });
    field("cart-total").textContent = C.money(order.total, order.currency);
    root.querySelector('[data-panel="cart"]').dataset.status = order.status;
    var pay = $('[data-action="pay"]');
    pay.hidden = order.status !== "pending_payment";
    field("paid").hidden = !(order.status === "paid" || order.status === "fulfilled");
    field("cart-note").textContent = order.status === "pending_payment" && order.reserved_until
      ? fmt(T.reserved, {t: new Date(order.reserved_until).toLocaleTimeString()}) : "";
    if (field("paid").hidden === false) closePay();
  }

  function closePay() {
    panel("pay").hidden = true;
    field("pay-frame").removeAttribute("src");
  }

  function consent(c) {
    if (!c) return;
    field("rec").hidden = !c.recording;
    var mine = c[session.party || "shopper"];
    $('[data-action="consent"]').checked = mine === true;
  }

  var session = new C.ConsultSession({
    joinUrl: d.apiJoin,
    local: document.getElementById("local-video"),
    remote: document.getElementById("remote-video"),
    onStatus: note,
    onClosed: function () { refresh(); },
    onFrame: function (frame) {
      switch (frame.type) {
        case "consult.state":
          var c = frame.consult;
          show(c.status);
          queue(c.queue);
          field("messages").textContent = "";
          (c.messages || []).forEach(function (m) { addMessage({party: m.party, user: m.user, text: m.text}); });
          (c.pushed || []).forEach(addProduct);
          renderCart(c.cart);
          consent(c.consent);
          if (c.agent) field("agent").textContent = fmt(T["with"], {name: c.agent.name});
          if (c.status === "active") session.startMedia();
          break;
        case "queue": queue(frame); break;
        case "consult.accepted":
          show("active");
          field("agent").textContent = fmt(T["with"], {name: frame.agent.name});
          session.startMedia();
          break;
        case "chat.message": addMessage(frame); break;
        case "product.pushed": addProduct(frame.product); break;
        case "cart.updated": renderCart(frame.order); break;
        case "recording.consent": consent({recording: frame.recording, shopper: frame.consent.shopper, agent: frame.consent.agent}); break;
        case "media.state":
          if (frame.party === session.party) break;
          var noteBox = field("remote-note");
          noteBox.hidden = frame.video === "camera";
          noteBox.textContent = frame.video === "screen" ? T.screen : T.theirCameraOff;
          break;
        case "consult.ended":
          show({cancelled: "cancelled", left_queue: "abandoned", no_agent: "abandoned"}[frame.reason] || "ended");
          break;
        case "error": note(frame.message); break;
      }
    }
  });
  window.consultSession = session;  // tests read getStats through it

  function refresh() {
    return C.api("GET", d.apiDetail).then(function (res) {
      if (!res.ok) return;
      show(res.data.status);
      if (res.data.rating) {
        $('[data-action="rate"]').dataset.done = "1";
        $('[data-action="rate"]').hidden = true;
        field("rated").hidden = false;
      }
      renderCart(res.data.cart);
    });
  }

  $('[data-action="cancel"]').addEventListener("click", function () {
    C.api("POST", d.apiCancel).then(function (res) {
      if (!res.ok) { note(C.errorText(res)); return; }
      session.close();
      show("cancelled");
      note(T.cancelled, "warn");
    });
  });

  $('[data-action="end"]').addEventListener("click", function () {
    C.api("POST", d.apiEnd).then(function (res) {
      if (!res.ok) note(C.errorText(res));
      else { show("ended"); session.close(); }
    });
  });

  $('[data-action="chat"]').addEventListener("submit", function (e) {
    e.preventDefault();
    var input = e.target.elements.text;
    var text = input.value.trim();
    if (!text) return;
    if (session.send({type: "chat.send", text: text, nonce: C.uuid()})) input.value = "";
  });

  $('[data-action="consent"]').addEventListener("change", function (e) {
    session.send({type: "recording.consent", granted: e.target.checked});
  });

  var mic = true, cam = true;
  $('[data-action="mic"]').addEventListener("click", function (e) {
    mic = !mic;
    session.setMic(mic);
    e.target.textContent = mic ? T.mute : T.unmute;
    e.target.setAttribute("aria-pressed", String(mic));
  });
  $('[data-action="camera"]').addEventListener("click", function (e) {
    cam = !cam;
    session.setCamera(cam);
    e.target.textContent = cam ? T.cameraOff : T.cameraOn;
    e.target.setAttribute("aria-pressed", String(cam));
  });

  // Pay the cart in the sandbox gateway's checkout, shown over the call.
  $('[data-action="pay"]').addEventListener("click", function () {
    var order = state.cart;
    if (!order) return;
    state.paying = state.paying || C.uuid();
    C.api("POST", d.apiOrders + "/" + order.id + "/pay", undefined, {idempotencyKey: "consult-" + order.id + "-" + state.paying})
      .then(function (res) {
        if (!res.ok) { note(C.errorText(res)); return; }
        field("pay-frame").src = res.data.redirect_url;
        panel("pay").hidden = false;
      });
  });
  $('[data-action="close-pay"]').addEventListener("click", function () {
    closePay();
    refresh();
  });
  field("pay-frame").addEventListener("load", function () {
    // Back on our own order page inside the frame: the payment was decided.
    try {
      var path = field("pay-frame").contentWindow.location.pathname;
      if (path.indexOf("/orders/") !== -1) { setTimeout(refresh, 300); }
    } catch (e) { /* another origin: nothing to read */ }
  });

  $('[data-action="rate"]').addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target;
    var picked = form.querySelector("input[name=rating]:checked");
    if (!picked) return;
    C.api("POST", d.apiRating, {rating: parseInt(picked.value, 10), comment: form.elements.comment.value})
      .then(function (res) {
        if (!res.ok) { note(C.errorText(res)); return; }
        form.hidden = true;
        form.dataset.done = "1";
        field("rated").hidden = false;
      });
  });

  show(d.status);
  if (d.status === "waiting" || d.status === "offered" || d.status === "active") session.connect();
  else refresh();
  root.dataset.ready = "1";  // handlers bound (tests wait for it)
})();

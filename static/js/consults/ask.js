/* "Ask an expert" (templates/consults/_ask.html): asks for a video consult, or books a slot
   when nobody is online. Anonymous visitors are sent to the login page first. */
(function () {
  "use strict";
  var C = window.LiveShopConsults;
  if (!C || window.__consultAskBound) return;
  window.__consultAskBound = true;

  function setup(box) {
    var d = box.dataset;
    var base = "/api/v1/s/" + d.merchant + "/consults";
    function field(name) { return box.querySelector('[data-field="' + name + '"]'); }
    function fail(text) { var e = field("error"); e.hidden = !text; e.textContent = text || ""; }
    var form = field("form");
    var options = null;

    function fill(select, values, selected) {
      values.forEach(function (v) {
        var o = document.createElement("option");
        o.value = v; o.textContent = v;
        if (v === selected) o.selected = true;
        select.appendChild(o);
      });
    }

    function body() {
      var b = {topic: form.elements.topic.value, language: form.elements.language.value,
        question: form.elements.question.value};
      if (d.room) b.room = d.room;
      if (d.product) b.product = parseInt(d.product, 10);
      return b;
    }

    function showSlots() {
      var box2 = field("slots");
      box2.hidden = false;
      box2.textContent = "";
      var lang = form.elements.language.value;
      C.api("GET", base + "/slots?days=7&page_size=24" + (lang ? "&language=" + encodeURIComponent(lang) : ""))
        .then(function (res) {
          if (!res.ok) { fail(C.errorText(res)); return; }
          var slots = res.data.results;
          if (!slots.length) { box2.appendChild(C.el("p", {"class": "muted", text: d.tNone})); return; }
          var list = C.el("div", {"class": "chips"});
          slots.forEach(function (slot) {
            var when = new Date(slot.starts_at);
            var chip = C.el("button", {"type": "button", "class": "chip", "data-test": "consult-slot",
              text: when.toLocaleString([], {weekday: "short", hour: "2-digit", minute: "2-digit"}) + " · " + slot.agent.name});
            chip.addEventListener("click", function () { book(slot); });
            list.appendChild(chip);
          });
          box2.appendChild(list);
        });
    }

    function book(slot) {
      if (!options.signed_in) { location.href = d.login; return; }
      var b = body();
      b.starts_at = slot.starts_at;
      b.agent = slot.agent.id;
      C.api("POST", base + "/bookings", b).then(function (res) {
        if (!res.ok) { fail(C.errorText(res)); showSlots(); return; }
        field("slots").textContent = "";
        field("slots").appendChild(C.el("p", {"class": "badge badge-ok", "data-test": "consult-booked",
          text: d.tBooked.replace("%(t)s", new Date(res.data.starts_at).toLocaleString())}));
      });
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      fail("");
      if (!options.signed_in) { location.href = d.login; return; }
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      C.api("POST", base, body()).then(function (res) {
        button.disabled = false;
        if (res.ok) { location.href = res.data.call_url; return; }
        var err = res.data && res.data.error;
        if (err && err.code === "consult_open" && err.consult) {
          location.href = "/s/" + d.merchant + "/consults/" + err.consult + "/";
          return;
        }
        fail(C.errorText(res));
        if (err && err.code === "no_agent_online") showSlots();
      });
    });

    C.api("GET", base + "/options").then(function (res) {
      if (!res.ok) return;
      options = res.data;
      if (options.open_consult) {
        field("hint").textContent = "";
        var link = C.el("a", {"class": "btn btn-block", href: "/s/" + d.merchant + "/consults/" + options.open_consult + "/",
          "data-test": "consult-return", text: "↩"});
        link.textContent = form.querySelector("button[type=submit]").textContent;
        field("hint").appendChild(link);
        return;
      }
      fill(form.elements.topic, options.topics, "");
      var lang = (document.documentElement.lang || "").toLowerCase();
      fill(form.elements.language, options.languages, options.languages.indexOf(lang) !== -1 ? lang : options.languages[0]);
      field("online").textContent = options.agents_online > 0 ? "● " + options.agents_online : "";
      field("online").className = "badge " + (options.agents_online > 0 ? "badge-ok" : "");
      form.hidden = false;
      if (options.accepting) {
        field("hint").textContent = d.tOnline;
      } else {
        field("hint").textContent = d.tOffline;
        form.querySelector("button[type=submit]").hidden = true;
        if (options.booking) showSlots();
      }
    });
  }

  function init() { document.querySelectorAll("[data-consult-ask]").forEach(setup); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

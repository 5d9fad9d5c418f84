/* The host console's "unanswered" list (templates/assistant/_unanswered.html): refreshed
 * every few seconds; "Answer & pin" and "Dismiss" are sent without leaving the page. Works
 * without this script too (plain form posts). */
(function () {
  "use strict";
  var REFRESH_MS = 5000;

  function bind(section) {
    var url = section.dataset.url;

    function replace(html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var fresh = holder.querySelector("[data-assistant-unanswered]");
      if (fresh) {
        section.replaceWith(fresh);
        bind(fresh);
      }
    }

    function typing() {
      var active = document.activeElement;
      return active && section.contains(active) && active.value;
    }

    var timer = setInterval(function () {
      if (!document.body.contains(section)) return clearInterval(timer);
      if (typing()) return; // do not wipe an answer being written
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html && !typing()) { clearInterval(timer); replace(html); } })
        .catch(function () {});
    }, REFRESH_MS);

    section.addEventListener("submit", function (e) {
      var form = e.target;
      e.preventDefault();
      var data = new FormData(form);
      if (e.submitter && e.submitter.name) data.set(e.submitter.name, e.submitter.value);
      fetch(form.action, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
      })
        .then(function (r) {
          var error = r.headers.get("X-Error");
          return r.text().then(function (html) { clearInterval(timer); replace(html); if (error) alert(error); });
        })
        .catch(function () { form.submit(); });
    });
  }

  document.querySelectorAll("[data-assistant-unanswered]").forEach(bind);
})();

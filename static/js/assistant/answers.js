/* Renders `assistant.answer` room events: the answer text and its products as buyable cards.
 * Used by the replay page; the live room page can use it too:
 *   LiveShopAssistant.renderAnswer(event, listElement, {currency formatter optional})
 * Everything is built with textContent (answers quote shoppers' and merchants' text). */
(function () {
  "use strict";
  // Strings go through Django's JavaScript catalog (/jsi18n/, loaded by base.html); English
  // when it is missing.
  var gettext = window.gettext || function (s) { return s; };
  var DIGITS = { JPY: 0 };

  function money(minor, currency) {
    var digits = DIGITS[currency] === undefined ? 2 : DIGITS[currency];
    try {
      return new Intl.NumberFormat(document.documentElement.lang || "en", {
        style: "currency", currency: currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
      }).format(minor / Math.pow(10, digits));
    } catch (e) {
      return (minor / Math.pow(10, digits)).toFixed(digits) + " " + currency;
    }
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function card(product) {
    var a = el("a", "assistant-card");
    a.href = product.url || "#";
    a.dataset.productId = product.id;
    if (product.image) {
      var img = el("img");
      img.src = product.image; img.alt = ""; img.loading = "lazy";
      a.appendChild(img);
    }
    var body = el("span", "assistant-card-body");
    body.appendChild(el("span", "assistant-card-name", product.name));
    var price = product.flash_sale ? product.flash_sale.price : product.price;
    var label = money(price, product.currency);
    if (product.price_max && !product.flash_sale) label += " – " + money(product.price_max, product.currency);
    body.appendChild(el("span", "price", label));
    if (product.stock === 0) body.appendChild(el("span", "badge", gettext("Sold out")));
    a.appendChild(body);
    return a;
  }

  function renderAnswer(event, list, options) {
    options = options || {};
    var item = el("li", "assistant-answer" + (event.pinned ? " pinned" : ""));
    item.dataset.questionSeq = event.question_seq;
    var who = event.by === "host" ? (event.host && event.host.name) || gettext("Host") : event.assistant || gettext("Assistant");
    item.appendChild(el("strong", "assistant-who", who));
    if (event.question) item.appendChild(el("q", "assistant-question-text", event.question));
    item.appendChild(el("span", "assistant-text", event.text));
    if (event.products && event.products.length) {
      var cards = el("div", "assistant-cards");
      event.products.forEach(function (p) { cards.appendChild(card(p)); });
      item.appendChild(cards);
    }
    if (event.handoff && options.userId && event.asker === options.userId && options.onConsult) {
      var btn = el("button", "btn btn-sm", options.consultLabel || gettext("Talk to us 1:1"));
      btn.type = "button";
      btn.addEventListener("click", function () { options.onConsult(event.handoff); });
      item.appendChild(btn);
    }
    list.appendChild(item);
    return item;
  }

  window.LiveShopAssistant = { renderAnswer: renderAnswer, money: money };
})();

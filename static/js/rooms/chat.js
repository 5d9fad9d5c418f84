/* A chat list that stays smooth under load, shared by the room page and the host console.
 *
 * Events are queued and rendered once per animation frame in one DocumentFragment; the list
 * keeps at most `max` nodes (older ones are dropped), so a flood of danmaku costs one layout
 * per frame whatever the rate. `remove(seq)` hides a message that moderation deleted, also
 * while it is still queued. Nodes are built by the page's `render(event)` (textContent only:
 * chat is other people's text).
 */
(function () {
  "use strict";

  function ChatList(list, options) {
    this.list = list;
    this.max = options.max || 60;
    this.render = options.render;
    this.queue = [];
    this.removed = new Set();
    this.scheduled = false;
    this.stick = true;
    var self = this;
    list.addEventListener("scroll", function () {
      self.stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 24;
    }, { passive: true });
  }

  ChatList.prototype.push = function (event) {
    this.queue.push(event);
    // Never hold more than a screenful waiting: the list shows the newest anyway.
    if (this.queue.length > this.max) this.queue.splice(0, this.queue.length - this.max);
    this.schedule();
  };

  ChatList.prototype.schedule = function () {
    if (this.scheduled) return;
    this.scheduled = true;
    var self = this;
    window.requestAnimationFrame(function () { self.flush(); });
  };

  ChatList.prototype.flush = function () {
    this.scheduled = false;
    if (!this.queue.length) return;
    var fragment = document.createDocumentFragment();
    var self = this;
    this.queue.forEach(function (event) {
      if (event.seq && self.removed.has(event.seq)) return;
      var node = self.render(event);
      if (!node) return;
      if (event.seq) node.dataset.seq = event.seq;
      fragment.appendChild(node);
    });
    this.queue = [];
    this.list.appendChild(fragment);
    var extra = this.list.children.length - this.max;
    while (extra-- > 0) this.list.removeChild(this.list.firstChild);
    if (this.stick) this.list.scrollTop = this.list.scrollHeight;
  };

  ChatList.prototype.remove = function (seq) {
    if (!seq) return;
    this.removed.add(seq);
    if (this.removed.size > 2000) this.removed = new Set(Array.from(this.removed).slice(-1000));
    var node = this.list.querySelector('[data-seq="' + Number(seq) + '"]');
    if (node) node.remove();
  };

  ChatList.prototype.reset = function (events) {
    this.queue = [];
    this.list.textContent = "";
    var self = this;
    (events || []).forEach(function (e) { self.push(e); });
    this.stick = true;
  };

  window.LiveShopChatList = ChatList;
})();

// The elevation inbox from the keyboard: j / k move to the next / previous request; after a decision the next
// pending request takes the focus, so a manager can work down the list without the mouse.
(function () {
  "use strict";

  function cards() { return Array.prototype.slice.call(document.querySelectorAll("[data-request-card]")); }

  function focusCard(card) {
    var title = card && card.querySelector("h2[tabindex]");
    if (title) { title.focus(); card.scrollIntoView({ block: "nearest" }); }
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) { return; }
    if (event.key !== "j" && event.key !== "k") { return; }
    var all = cards();
    if (!all.length) { return; }
    var current = all.indexOf(document.activeElement && document.activeElement.closest("[data-request-card]"));
    var next = event.key === "j" ? Math.min(current + 1, all.length - 1) : Math.max(current - 1, 0);
    focusCard(all[next]);
    event.preventDefault();
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var card = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("[data-request-card]");
    if (!card || !card.classList.contains("request-card-done")) { return; }
    var all = cards();
    var after = all.slice(all.indexOf(card) + 1).concat(all.slice(0, all.indexOf(card)));
    var pending = after.filter(function (c) { return !c.classList.contains("request-card-done"); });
    focusCard(pending[0] || card);
  });
})();

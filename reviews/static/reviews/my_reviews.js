// "My reviews" from the keyboard: j / k next and previous item, c certify, r revoke, x select it for a bulk
// action, / to its comment. The selection count follows the checkboxes; after an in-place decision (htmx) the
// next item still to decide takes the focus, so a reviewer works down the list without the mouse.
(function () {
  "use strict";

  function items() { return Array.prototype.slice.call(document.querySelectorAll("[data-review-item]")); }
  function current() { return document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-review-item]"); }

  function focusItem(item) {
    if (item) { item.focus(); item.scrollIntoView({ block: "nearest" }); }
  }

  function countSelected() {
    var count = document.getElementById("bulk-count");
    if (count) { count.textContent = document.querySelectorAll(".review-select:checked").length; }
  }

  document.addEventListener("change", function (event) {
    if (event.target.classList && event.target.classList.contains("review-select")) { countSelected(); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) { return; }
    if (document.querySelector("dialog[open]")) { return; }
    var all = items();
    if (!all.length) { return; }
    var here = current();
    var index = all.indexOf(here);
    if (event.key === "j" || event.key === "k") {
      var next = event.key === "j" ? Math.min(index + 1, all.length - 1) : Math.max(index - 1, 0);
      focusItem(all[index < 0 ? 0 : next]);
      event.preventDefault();
      return;
    }
    if (!here) { return; }
    if (event.key === "x") {
      var box = here.querySelector(".review-select");
      if (box) { box.checked = !box.checked; countSelected(); }
      event.preventDefault();
    } else if (event.key === "c" || event.key === "r") {
      var button = here.querySelector('button[data-key="' + event.key + '"]');
      if (button) { button.click(); event.preventDefault(); }
    } else if (event.key === "/") {
      var comment = here.querySelector(".review-comment");
      if (comment) { comment.focus(); event.preventDefault(); }
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var item = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("[data-review-item]");
    if (!item || !item.classList.contains("review-item-done")) { countSelected(); return; }
    var all = items();
    var after = all.slice(all.indexOf(item) + 1);
    var pending = after.filter(function (i) { return !i.classList.contains("review-item-done"); });
    focusItem(pending[0] || item);
    countSelected();
  });
})();

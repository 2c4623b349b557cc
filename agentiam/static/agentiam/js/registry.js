// Registry pages: inline forms that come back with field errors, and "select all" on the identity list.
(function () {
  "use strict";

  // htmx leaves 4xx answers unswapped. A form marked data-swap-errors is answered with itself and its
  // errors (400 bad input, 403 refused, 409 state), so show that answer instead of a generic toast.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status !== 400 && status !== 403 && status !== 409) { return; }
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (elt && elt.closest && elt.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A header checkbox (data-select-all="name") ticks every row checkbox with that name.
  document.addEventListener("change", function (event) {
    var all = event.target.closest && event.target.closest("[data-select-all]");
    if (!all) { return; }
    var name = all.getAttribute("data-select-all");
    document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });
})();

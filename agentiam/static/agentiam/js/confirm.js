// Confirmation for destructive actions, without inline script: put data-confirm="What will happen" on a
// form (or on its submit button), optionally data-confirm-title and data-confirm-button. Works for plain
// and htmx forms alike, and for htmx elements that are not forms (via the htmx:confirm event).
(function () {
  "use strict";

  function ask(source, proceed) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      proceed();
      return;
    }
    document.getElementById("confirm-title").textContent = source.dataset.confirmTitle || "Are you sure?";
    document.getElementById("confirm-message").textContent = source.dataset.confirm;
    document.getElementById("confirm-ok").textContent = source.dataset.confirmButton || "Confirm";
    dialog.returnValue = "";
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue === "confirm") { proceed(); }
    });
    dialog.showModal();
  }

  function confirmSource(form, submitter) {
    if (submitter && submitter.dataset && submitter.dataset.confirm) { return submitter; }
    return form.dataset.confirm ? form : null;
  }

  // Capture phase on the document runs before htmx's own submit listener on the form.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var source = confirmSource(form, event.submitter);
    if (!source) { return; }
    if (form.dataset.confirmed === "yes") {
      delete form.dataset.confirmed;
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
    var submitter = event.submitter;
    ask(source, function () {
      form.dataset.confirmed = "yes";
      if (submitter && submitter.form === form) {
        form.requestSubmit(submitter);
      } else {
        form.requestSubmit();
      }
    });
  }, true);

  document.addEventListener("htmx:confirm", function (event) {
    var trigger = event.detail.triggeringEvent;
    if (trigger && trigger.type === "submit") { return; }  // forms were asked above
    var source = event.detail.elt.closest("[data-confirm]");
    if (!source || source.tagName === "FORM") { return; }
    event.preventDefault();
    ask(source, function () { event.detail.issueRequest(true); });
  });
})();

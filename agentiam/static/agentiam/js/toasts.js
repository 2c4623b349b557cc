// Toasts: Django messages rendered by base.html, and the ones htmx responses announce through
// `HX-Trigger: {"toast": {"items": [{"level": "success", "message": "…"}]}}` (agentiam.middleware).
// Errors stay until dismissed; the others fade after a few seconds.
(function () {
  "use strict";
  var LINGER_MS = 6000;

  function container() {
    return document.getElementById("toasts");
  }

  function dismiss(toast) {
    toast.classList.add("toast-leaving");
    window.setTimeout(function () { toast.remove(); }, 200);
  }

  function arm(toast) {
    var close = toast.querySelector("[data-toast-close]");
    if (close) {
      close.addEventListener("click", function () { dismiss(toast); });
    }
    if (!toast.classList.contains("toast-error")) {
      window.setTimeout(function () { dismiss(toast); }, LINGER_MS);
    }
  }

  function show(level, message) {
    var box = container();
    if (!box) { return; }
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "info");
    toast.setAttribute("data-toast", "");
    var text = document.createElement("span");
    text.className = "toast-text";
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("data-toast-close", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    toast.append(text, close);
    box.append(toast);
    arm(toast);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-toast]").forEach(arm);
  });

  document.addEventListener("toast", function (event) {
    var items = (event.detail && event.detail.items) || [];
    items.forEach(function (item) { show(item.level, item.message); });
  });

  // A failed htmx request leaves the page as it was: say so instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    show("error", status >= 500 ? "The server could not complete the request. Try again in a moment."
      : "The request was refused (" + status + ").");
  });
  document.addEventListener("htmx:sendError", function () {
    show("error", "The server could not be reached. Check your connection and try again.");
  });

  window.agentiamToast = show;
})();

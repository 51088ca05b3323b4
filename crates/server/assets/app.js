// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", function () {
  // Moves focus to the error summary after a failed form, so screen readers announce it first.
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
  // "Print" buttons (the browser's own print command works without them).
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
});

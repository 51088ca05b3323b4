// Progressive enhancement only: every page works without this file.
// Moves focus to the error summary after a failed form, so screen readers announce it first.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
});

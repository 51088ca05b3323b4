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
  phoneMenu();
});

// On a phone-sized screen the main navigation folds behind a "Menu" button that names the page
// you are on. Without this script the links stay one scrollable row.
function phoneMenu() {
  var nav = document.querySelector("nav.nav");
  var list = nav && nav.querySelector(".nav-list");
  if (!list || !window.matchMedia) return;
  var narrow = window.matchMedia("(max-width: 40rem)");
  var button = document.createElement("button");
  button.type = "button";
  button.className = "nav-toggle";
  button.id = "nav-toggle";
  list.id = list.id || "nav-list";
  button.setAttribute("aria-controls", list.id);
  button.setAttribute("aria-expanded", "false");
  var current = list.querySelector('[aria-current="page"]');
  button.textContent = current ? "Menu: " + current.textContent : "Menu";
  function apply() {
    var open = button.getAttribute("aria-expanded") === "true";
    button.hidden = !narrow.matches;
    list.hidden = narrow.matches && !open;
    nav.classList.toggle("nav-folded", narrow.matches);
  }
  button.addEventListener("click", function () {
    button.setAttribute("aria-expanded", button.getAttribute("aria-expanded") === "true" ? "false" : "true");
    apply();
  });
  if (narrow.addEventListener) narrow.addEventListener("change", apply);
  nav.insertBefore(button, list);
  apply();
}

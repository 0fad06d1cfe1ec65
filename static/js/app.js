// The pages' own script (a file, for the Content-Security-Policy: no inline scripts).
// Close an open menu when clicking elsewhere; say so when an htmx request fails.
document.addEventListener("click", function (event) {
  document.querySelectorAll("details.menu[open]").forEach(function (menu) {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
});
// Filters leave empty fields out of the URL, as a person would write it.
document.addEventListener("htmx:configRequest", function (event) {
  if (event.detail.verb !== "get" || !event.detail.elt.matches("form[data-drop-empty]")) return;
  var params = event.detail.parameters;
  Object.keys(Object.fromEntries(params)).forEach(function (name) {
    if (params.get(name) === "") params.delete(name);
  });
});
document.addEventListener("htmx:responseError", function (event) {
  var status = event.detail.xhr.status;
  var toast = document.getElementById("request-error");
  toast.textContent = status === 403 ? "Your role cannot do that." :
    status === 404 ? "That no longer exists; reload the page." :
    "Something went wrong (" + status + "). Reload the page and try again.";
  toast.hidden = false;
  setTimeout(function () { toast.hidden = true; }, 6000);
});
document.addEventListener("htmx:sendError", function () {
  var toast = document.getElementById("request-error");
  toast.textContent = "The server could not be reached. Check your connection.";
  toast.hidden = false;
  setTimeout(function () { toast.hidden = true; }, 6000);
});
// Copy buttons: data-copy names the element whose text is copied.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  navigator.clipboard.writeText(document.getElementById(button.dataset.copy).textContent).then(
    function () { button.textContent = "Copied"; },
    function () { button.textContent = "Select and copy"; }
  );
});
// A form with data-confirm asks before it is sent.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset && form.dataset.confirm && !confirm(form.dataset.confirm)) event.preventDefault();
});
// A polling panel with data-pause-while-typing skips its refresh while one of its inputs has the focus (htmx
// trigger filters would need eval, which the Content-Security-Policy forbids).
document.addEventListener("htmx:beforeRequest", function (event) {
  var elt = event.detail.elt;
  if (elt.matches("[data-pause-while-typing]") && elt.querySelector("input:focus")) event.preventDefault();
});

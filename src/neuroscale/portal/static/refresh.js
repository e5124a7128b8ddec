// Pages showing state that is still converging ask to be reloaded: <body data-refresh="SECONDS">.
(function () {
  var seconds = Number(document.body.getAttribute("data-refresh") || 0);
  if (seconds > 0) {
    setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
})();
// After a refused submit, the error summary takes focus so screen-reader and keyboard users land on it.
(function () {
  var summary = document.querySelector("[data-focus-on-load]");
  if (summary) { summary.focus(); }
})();

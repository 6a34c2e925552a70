// The public board's town chooser (web/templates/public.html): a new town is shown as soon as
// it is chosen. Without this script the form's own button does the same.
(function () {
  "use strict";
  document.querySelectorAll("form.board-town select[name=town]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();

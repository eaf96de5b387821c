// New case form: show the fieldsets of the chosen business item only (data-items lists
// the items a block belongs to). Without JavaScript every block stays visible.
(function () {
  "use strict";
  var form = document.getElementById("case-form");
  if (!form) { return; }
  var select = form.querySelector("select[name=item]");
  function update() {
    var item = select.value;
    form.querySelectorAll("[data-items]").forEach(function (block) {
      block.hidden = block.getAttribute("data-items").split(" ").indexOf(item) < 0;
    });
  }
  select.addEventListener("change", update);
  update();
  form.setAttribute("data-ready", "");
}());

// QP Ledger console: small progressive enhancements; every page works without them.
"use strict";
(function () {
  // Replay: the slider and the number box move together; letting go of the slider replays.
  document.querySelectorAll("[data-mirror]").forEach(function (input) {
    var other = document.getElementById(input.dataset.mirror);
    input.addEventListener("input", function () { other.value = input.value; });
    if (input.type === "range") {
      input.addEventListener("change", function () { input.form.requestSubmit(); });
    }
  });
  // Evidence: the file is hashed here; only its SHA-256, size, name and type are sent.
  document.querySelectorAll("[data-hash-into]").forEach(function (input) {
    var prefix = input.dataset.hashInto;
    input.addEventListener("change", async function () {
      var file = input.files[0];
      var say = document.getElementById(prefix + "-digest");
      if (!file) { return; }
      var digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
      var hex = Array.from(digest, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
      document.getElementById(prefix + "-sha256").value = hex;
      document.getElementById(prefix + "-size").value = String(file.size);
      document.getElementById(prefix + "-name").value = file.name;
      document.getElementById(prefix + "-type").value = file.type || "application/octet-stream";
      say.textContent = file.name + ": " + file.size + " bytes, SHA-256 " + hex;
    });
  });
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();

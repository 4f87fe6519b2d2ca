// Small progressive enhancements; every page works without script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Show the TLP:RED recipients only when TLP:RED is chosen.
  for (const select of document.querySelectorAll("select[data-recipients]")) {
    const box = document.getElementById(select.dataset.recipients);
    if (!box) continue;
    const update = () => { box.hidden = select.value !== "red"; };
    select.addEventListener("change", update);
    update();
  }
  // Ask before destructive actions (revoking a token, removing a member).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  // Select a freshly created token so it can be copied at once.
  const token = document.getElementById("new-token");
  if (token) { token.focus(); token.select(); }
});

// --- Match page (issue 15): refuse a log file over the hub's limit before it is sent, so
// what was typed stays in the form; the server refuses it from its declared length anyway.
document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[type=file][data-max-bytes]")) {
    const limit = Number(input.dataset.maxBytes);
    const check = () => {
      const file = input.files && input.files[0];
      input.setCustomValidity(file && file.size > limit ? input.dataset.tooLarge || "" : "");
    };
    input.addEventListener("change", () => { check(); input.reportValidity(); });
    check();
  }
});

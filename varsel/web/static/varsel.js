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

// Readable lists and bulk actions (issue 15, h-bulk) ----------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  // Folded filters: open on wide screens, where they fit beside nothing else.
  if (window.matchMedia("(min-width: 60em)").matches) {
    for (const fold of document.querySelectorAll("details.filters-fold")) fold.open = true;
  }
  // A "select all" box for the rows of a bulk form.
  for (const form of document.querySelectorAll("form.bulk-form")) {
    const head = form.querySelector("th.pick");
    const boxes = form.querySelectorAll('input[name="pick"]');
    if (!head || boxes.length === 0) continue;
    const all = document.createElement("input");
    all.type = "checkbox";
    all.id = "pick-all";
    all.setAttribute("aria-label", head.textContent.trim() || "Select all");
    all.addEventListener("change", () => { for (const box of boxes) box.checked = all.checked; });
    head.replaceChildren(all);
  }
});

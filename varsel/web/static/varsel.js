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

/* ---- Layout and forms (issue 15): menu button, focus on the field at fault, shortcuts ---- */
document.addEventListener("DOMContentLoaded", () => {
  // The folded menu: without script a checkbox and its label open it; with script a real
  // button that says whether it is open (aria-expanded) and closes on Escape.
  const toggle = document.getElementById("menu-toggle");
  const label = document.querySelector("label.menu-label");
  const menu = document.getElementById("main-nav");
  if (toggle && label && menu) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "menu-button";
    button.textContent = label.textContent;
    button.setAttribute("aria-controls", "main-nav");
    button.setAttribute("aria-expanded", "false");
    const set = (open) => {
      toggle.checked = open;
      button.setAttribute("aria-expanded", String(open));
    };
    button.addEventListener("click", () => set(!toggle.checked));
    menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && toggle.checked) { set(false); button.focus(); }
    });
    label.replaceWith(button);
    toggle.hidden = true;
    toggle.tabIndex = -1;
  }

  // A refused form: open the folded sections holding a field at fault and focus the first
  // one (the server already sets autofocus; this covers fields inside closed <details>).
  const invalid = document.querySelector("main [aria-invalid='true']");
  if (invalid) {
    for (let node = invalid.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    if (document.activeElement !== invalid) invalid.focus();
  }
  // An address ending in #<field> (the "/" shortcut from another page) focuses that field.
  if (location.hash.length > 1) {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.matches("input, select, textarea")) target.focus();
  }

  // Keyboard shortcuts, listed in the footer ("?" opens the list). Ignored while typing.
  const go = { h: "/", o: "/objects", s: "/share", i: "/incidents", c: "/clock", a: "/account" };
  let pending = false;
  let timer = 0;
  const typing = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (!document.getElementById("shortcuts")) return; // signed out: no shortcuts
    if (pending) {
      pending = false;
      window.clearTimeout(timer);
      if (go[event.key]) { event.preventDefault(); location.href = go[event.key]; }
      return;
    }
    if (event.key === "g") {
      pending = true;
      timer = window.setTimeout(() => { pending = false; }, 1500);
    } else if (event.key === "/") {
      event.preventDefault();
      const box = document.querySelector("header input[type='search'], main input[type='search']");
      if (box) box.focus();
      else location.href = "/objects#f-q";
    } else if (event.key === "?") {
      event.preventDefault();
      const list = document.getElementById("shortcuts");
      list.open = true;
      list.querySelector("summary").focus();
      list.scrollIntoView({ block: "nearest" });
    }
  });
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

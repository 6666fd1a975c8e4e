/* Maestro dashboard behaviours. No inline scripts or handlers anywhere (the Content-Security-Policy forbids them):
 * pages declare behaviour with data attributes and this file wires it up, for the initial page and for content
 * swapped in by htmx.
 *
 *   <form data-confirm="Delete it?">           asks before submitting (forms htmx submits ask through hx-confirm)
 *   <form data-autosubmit>                      submits when a select or checkbox changes (no-JS fallback: a button)
 *   <button data-copy="element-id">             copies that element's text to the clipboard
 *   <form data-compare min="2">                 enables [data-compare-submit] once enough checkboxes are ticked
 *   <input type="checkbox" data-select-all="name">  ticks every checkbox called name in its form
 *   [data-autofocus] inside swapped content     receives focus after an htmx swap
 */
(function () {
  "use strict";

  function onSubmitConfirm(event) {
    var form = event.target.closest("form[data-confirm]");
    if (!form || form.hasAttribute("hx-confirm")) {
      return; // htmx asks itself (hx-confirm) for forms it submits
    }
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }

  function onChangeAutosubmit(event) {
    var form = event.target.closest("form[data-autosubmit]");
    if (!form || form.hasAttribute("hx-get") || form.hasAttribute("hx-post")) {
      return;
    }
    if (event.target.matches("select, input[type=checkbox], input[type=radio], input[type=date]")) {
      form.requestSubmit();
    }
  }

  function onClickCopy(event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) {
      return;
    }
    var source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) {
      return;
    }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 1500);
    }, function () { /* clipboard refused (insecure context): the text stays selectable */ });
  }

  function updateCompare(form) {
    var minimum = parseInt(form.dataset.compare || "2", 10);
    var ticked = form.querySelectorAll("input[type=checkbox][name=ids]:checked").length;
    form.querySelectorAll("[data-compare-submit]").forEach(function (button) {
      button.disabled = ticked < minimum;
    });
    form.querySelectorAll("[data-compare-count]").forEach(function (output) {
      output.textContent = ticked === 1 ? "1 run selected" : ticked + " runs selected";
    });
  }

  function onChangeCheckbox(event) {
    var input = event.target;
    if (!input.matches("input[type=checkbox]")) {
      return;
    }
    var form = input.form;
    if (input.dataset.selectAll && form) {
      form.querySelectorAll("input[type=checkbox][name='" + input.dataset.selectAll + "']").forEach(function (box) {
        box.checked = input.checked;
      });
    }
    if (form && form.hasAttribute("data-compare")) {
      updateCompare(form);
    }
  }

  function init(root) {
    (root || document).querySelectorAll("form[data-compare]").forEach(updateCompare);
  }

  document.addEventListener("submit", onSubmitConfirm, true);
  document.addEventListener("change", onChangeAutosubmit);
  document.addEventListener("change", onChangeCheckbox);
  document.addEventListener("click", onClickCopy);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(); });
  } else {
    init();
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    init(event.target);
    var target = event.target.querySelector("[data-autofocus]");
    if (target) {
      target.focus();
    }
  });
})();

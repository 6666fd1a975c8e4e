/* Maestro dashboard behaviours. No inline scripts or handlers anywhere (the Content-Security-Policy forbids them):
 * pages declare behaviour with data attributes and this file wires it up, for the initial page and for content
 * swapped in by htmx.
 *
 *   <form data-confirm="Delete it?">           asks before submitting (forms htmx submits ask through hx-confirm)
 *   <form data-autosubmit>                      submits when a select or checkbox changes (no-JS fallback: a button)
 *   <button data-copy="element-id">             copies that element's text to the clipboard
 *   <form data-compare="2" data-compare-max="10">  enables [data-compare-submit] while 2 to 10 checkboxes are ticked,
 *                                               and [data-compare-count] says how many (and how many too many)
 *   <input type="checkbox" data-select-all="name">  ticks every checkbox called name in its form
 *   [data-autofocus] inside swapped content     receives focus after an htmx swap
 *   <button data-remove-row>                    removes its [data-row] and tells the form it changed
 *   <button data-add-artifact="7">              ticks artifact 7 in the form (what-if suggestions)
 *   <input data-filter-list="element-id">       hides the labels in that element that do not contain the text
 *   [data-change-after-swap] (htmx trigger)     the form it is in is told it changed once the swap settled
 *   <section data-filter-form="form-id">        its sort headers and page links submit that (htmx) filter form
 *   <button data-menu-toggle aria-controls="id"> opens and closes the main menu on small screens
 *
 * Lists: one request at a time goes through the filter form (hx-sync "this:queue last"), carrying the search, the
 * filters, the sort and the page together. A header clicked while a search is still pending therefore can neither
 * be overtaken by it nor lose the search: the last request the lead asked for is the one whose result and URL stay.
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
    var maximum = parseInt(form.dataset.compareMax || "0", 10) || Infinity;
    var ticked = form.querySelectorAll("input[type=checkbox][name=ids]:checked").length;
    var text = ticked === 1 ? "1 run selected" : ticked + " runs selected";
    if (ticked > maximum) {
      text += ": compare at most " + maximum + " at a time, untick " + (ticked - maximum);
    } else if (ticked < minimum && maximum !== Infinity) {
      text += " (compare " + minimum + " to " + maximum + ")";
    }
    form.querySelectorAll("[data-compare-submit]").forEach(function (button) {
      button.disabled = ticked < minimum || ticked > maximum;
    });
    form.querySelectorAll("[data-compare-count]").forEach(function (output) {
      output.textContent = text;
      output.classList.toggle("warn-text", ticked > maximum);
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

  function changed(form) {
    if (form) {
      form.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function onClickRows(event) {
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      var row = remove.closest("[data-row]");
      var form = remove.form;
      if (row) {
        row.remove();
        changed(form);
      }
      return;
    }
    var add = event.target.closest("[data-add-artifact]");
    if (add) {
      var box = document.querySelector("input[name=artifact_ids][value='" + add.dataset.addArtifact + "']");
      if (box && !box.checked) {
        box.checked = true;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }
      add.disabled = true;
      add.textContent = "Added";
    }
  }

  function onInputFilter(event) {
    var input = event.target;
    if (!input.matches("input[data-filter-list]")) {
      return;
    }
    var list = document.getElementById(input.dataset.filterList);
    var needle = input.value.trim().toLowerCase();
    if (!list) {
      return;
    }
    list.querySelectorAll("label").forEach(function (label) {
      var item = label.parentElement === list ? label : label.parentElement;
      item.hidden = needle !== "" && label.textContent.toLowerCase().indexOf(needle) === -1;
    });
  }

  var LINK_PARAMS = ["sort", "page", "cursor"];

  function setParam(form, name, value) {
    var input = form.querySelector("input[name='" + name + "']");
    if (!value) {
      if (input && input.hasAttribute("data-link-param")) {
        input.remove();
      } else if (input) {
        input.value = "";
      }
      return;
    }
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.setAttribute("data-link-param", "");
      form.appendChild(input);
    }
    input.value = value;
  }

  function onClickListLink(event) {
    var link = event.target.closest("a.sort, .pagination a");
    var results = link && link.closest("[data-filter-form]");
    var form = results && document.getElementById(results.dataset.filterForm);
    if (!form || !window.htmx || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) {
      return; // no list form, or the lead opens the link in a new tab: an ordinary link
    }
    event.preventDefault();
    var query = new URL(link.href, window.location.href).searchParams;
    LINK_PARAMS.forEach(function (name) { setParam(form, name, query.get(name)); });
    window.htmx.trigger(form, "submit");
  }

  function onFilterEdited(event) {
    // a changed search or filter starts again at the first page (captured before htmx reads the form)
    var form = event.target.form;
    if (form && form.hasAttribute("hx-get") && !event.target.hasAttribute("data-link-param")) {
      form.querySelectorAll("input[data-link-param]").forEach(function (input) { input.remove(); });
    }
  }

  function onClickMenu(event) {
    var button = event.target.closest("[data-menu-toggle]");
    if (!button) {
      return;
    }
    var open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", open ? "true" : "false");
    var menu = document.getElementById(button.getAttribute("aria-controls"));
    if (menu) {
      menu.classList.toggle("open", open);
    }
  }

  function init(root) {
    (root || document).querySelectorAll("form[data-compare]").forEach(updateCompare);
  }

  function focusFirstProblem() {
    // a page that comes back with errors (or a one-time secret) starts where the reader must look
    var target = document.querySelector("main .errorsummary[data-autofocus], main h2[data-autofocus]");
    if (target) {
      target.focus();
    }
  }

  document.addEventListener("submit", onSubmitConfirm, true);
  document.addEventListener("change", onChangeAutosubmit);
  document.addEventListener("change", onChangeCheckbox);
  document.addEventListener("click", onClickCopy);
  document.addEventListener("click", onClickRows);
  document.addEventListener("click", onClickListLink);
  document.addEventListener("click", onClickMenu);
  document.documentElement.classList.add("js");
  document.addEventListener("input", onFilterEdited, true);
  document.addEventListener("change", onFilterEdited, true);
  document.addEventListener("input", onInputFilter);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(); focusFirstProblem(); });
  } else {
    init();
    focusFirstProblem();
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    init(event.target);
    var trigger = event.detail && event.detail.requestConfig && event.detail.requestConfig.elt;
    if (trigger && trigger.hasAttribute && trigger.hasAttribute("data-change-after-swap")) {
      changed(trigger.closest("form"));
    }
    var target = event.target.querySelector("[data-autofocus]");
    if (target) {
      target.focus();
    }
  });
})();

/* Bulk import page: uploads the chosen file with XMLHttpRequest so the upload's progress can be shown, then shows
 * the server's answer — the summary, or every row's errors (nothing is imported when any row fails). */
(function () {
  "use strict";

  var form = document.querySelector("[data-import-form]");
  if (!form) {
    return;
  }
  var bar = form.querySelector("progress");
  var status = document.querySelector("[data-import-status]");
  var result = document.querySelector("[data-import-result]");

  function say(text) {
    status.textContent = text;
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
  }

  function show(code, body) {
    result.replaceChildren();
    var summary = document.createElement("p");
    if (code === 200 || code === 201) {
      summary.textContent = body.dry_run
        ? "Dry run: all " + body.rows + " projects are valid (" + body.team_members + " team members, " +
          body.artifact_usages + " artifact usages). Nothing was written."
        : body.imported + " projects imported with " + body.team_members + " team members and " +
          body.artifact_usages + " artifact usages; their specs are being embedded.";
      result.appendChild(summary);
      return;
    }
    summary.textContent = body.detail || "The import failed (" + code + ").";
    result.appendChild(summary);
    if (body.errors && body.errors.length) {
      var table = document.createElement("table");
      table.className = "compact";
      table.setAttribute("data-testid", "import-errors");
      var head = table.createTHead().insertRow();
      ["Row", "Field", "Problem"].forEach(function (name) {
        var th = document.createElement("th");
        th.scope = "col";
        th.textContent = name;
        head.appendChild(th);
      });
      var tbody = table.createTBody();
      body.errors.forEach(function (error) {
        var row = tbody.insertRow();
        cell(row, error.row);
        cell(row, error.field);
        cell(row, error.message);
      });
      result.appendChild(table);
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData(form);
    var xhr = new XMLHttpRequest();
    var dry = form.querySelector("[name=dry_run]").checked;
    xhr.open("POST", form.action + (dry ? "?dry_run=true" : ""));
    xhr.setRequestHeader("X-CSRFToken", data.get("csrfmiddlewaretoken"));
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.max = e.total;
        bar.value = e.loaded;
        say("Uploading: " + Math.round((100 * e.loaded) / e.total) + " %");
      }
    });
    xhr.upload.addEventListener("load", function () {
      bar.removeAttribute("value");
      say(dry ? "Uploaded; validating every row…" : "Uploaded; validating and importing…");
    });
    xhr.addEventListener("load", function () {
      bar.max = 1;
      bar.value = 1;
      var body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch (ignored) {
        body = { detail: "Unexpected answer from the server (" + xhr.status + ")." };
      }
      say(xhr.status < 300 ? "Done." : "Not imported.");
      show(xhr.status, body);
    });
    xhr.addEventListener("error", function () {
      say("The upload failed; check the connection and try again.");
    });
    result.replaceChildren();
    say("Uploading…");
    xhr.send(data);
  });
})();

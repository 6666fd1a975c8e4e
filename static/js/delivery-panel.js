/* Delivery panel charts: reads the series the server put in a json_script element and draws them with the
 * vendored Chart.js (global `Chart`). Works for panels on the initial page and panels swapped in by htmx. */
(function () {
  "use strict";

  function draw(panel) {
    if (panel.dataset.chartsReady === "1" || typeof window.Chart === "undefined") {
      return;
    }
    var source = document.getElementById(panel.dataset.deliveryPanel);
    if (!source) {
      return;
    }
    var series = JSON.parse(source.textContent).series;
    var activity = panel.querySelector('canvas[data-chart="activity"]');
    var ci = panel.querySelector('canvas[data-chart="ci"]');
    if (activity) {
      new window.Chart(activity, {
        type: "bar",
        data: {
          labels: series.weeks,
          datasets: [
            { label: "Commits", data: series.commits, backgroundColor: "#4f46e5" },
            { label: "Merged pull requests", data: series.merged_pull_requests, backgroundColor: "#059669" },
          ],
        },
        options: { animation: false, responsive: true, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      });
    }
    if (ci) {
      new window.Chart(ci, {
        type: "line",
        data: {
          labels: series.weeks,
          datasets: [{
            label: "CI pass rate",
            data: series.ci_pass_rate.map(function (rate) { return rate === null ? null : rate * 100; }),
            borderColor: "#d97706",
            spanGaps: false,
          }],
        },
        options: { animation: false, responsive: true, scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } } },
      });
    }
    panel.dataset.chartsReady = "1";
  }

  var retries = 0;

  function drawAll(root) {
    if (typeof window.Chart === "undefined") {
      // Scripts swapped in by htmx load asynchronously: wait (up to 5 s) for Chart.js.
      if (retries++ < 100) {
        window.setTimeout(function () { drawAll(root); }, 50);
      }
      return;
    }
    (root || document).querySelectorAll("[data-delivery-panel]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(); });
  } else {
    drawAll();
  }
  window.addEventListener("load", function () { drawAll(); });
  document.body.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();

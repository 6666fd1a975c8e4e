/* Charts of the dashboard, drawn with the vendored Chart.js (global `Chart`) from configurations the server renders
 * with json_script, so no chart code lives in templates:
 *
 *   <div class="chart"><canvas data-chart="config-id" role="img" aria-label="…"></canvas></div>
 *   <script id="config-id" type="application/json">{"type": "line", "data": {…}, "options": {…}, "zoom": true}</script>
 *
 * `zoom: true` turns on chartjs-plugin-zoom on the x axis (drag a box or pinch to zoom, shift-drag or swipe to pan;
 * Ctrl+wheel zooms) and buttons `[data-chart-action="zoom-in|zoom-out|reset"][data-chart-target="canvas-id"]`
 * work from the keyboard. When a chart is drawn its canvas gets `data-chart-ready="1"`; `Chart.getChart(canvas)`
 * returns it (the browser tests read the drawn data that way).
 *
 * A metric chart (`metricControls: true`, points {x: step, y, t: timestamp ms}) has controls next to it:
 *   <select data-chart-x="canvas-id">        x axis by step, wall clock (UTC) or time since the run's first point
 *   <input type=checkbox data-chart-log=…>   logarithmic y axis (values ≤ 0 cannot be drawn there and are left out)
 *   <input type=range data-chart-smooth=…>   exponential moving average, debiased as TensorBoard does (0 = raw)
 * Changing one redraws the chart from the server's data; nothing is fetched again.
 *
 * On narrow canvases (phones) long category labels are shortened with "…" (the tooltip keeps the full text) and a
 * legend on the right moves below the chart, so neither is clipped nor squeezes the plot.
 */
(function () {
  "use strict";

  var PALETTE = ["#4f46e5", "#059669", "#d97706", "#dc2626", "#0891b2", "#7c3aed", "#db2777", "#65a30d", "#475569", "#ea580c"];

  function zoomOptions() {
    return {
      limits: { x: { min: "original", max: "original" } },
      zoom: {
        mode: "x",
        wheel: { enabled: true, modifierKey: "ctrl" },
        pinch: { enabled: true },
        drag: { enabled: true, backgroundColor: "rgba(79,70,229,0.15)", borderColor: "#4f46e5", borderWidth: 1 },
      },
      pan: { enabled: true, mode: "x", modifierKey: "shift" },
    };
  }

  function colourise(config) {
    var datasets = (config.data && config.data.datasets) || [];
    var many = datasets.length === 1 && config.colourByPoint;
    var round = config.type === "doughnut" || config.type === "pie";
    datasets.forEach(function (dataset, index) {
      var colour = dataset.color || PALETTE[index % PALETTE.length];
      if (many) {
        dataset.backgroundColor = dataset.data.map(function (value, i) {
          return (dataset.colors && dataset.colors[i]) || PALETTE[i % PALETTE.length];
        });
      } else if (!dataset.backgroundColor) {
        dataset.backgroundColor = config.type === "line" ? colour : colour + "cc";
      }
      if (!dataset.borderColor) {
        dataset.borderColor = round ? "#ffffff" : colour;
      }
      if (config.type === "line") {
        if (dataset.pointRadius === undefined) {
          dataset.pointRadius = dataset.data.length > 60 ? 0 : 2;
        }
        if (dataset.borderWidth === undefined) {
          dataset.borderWidth = 1.5;
        }
      }
    });
  }

  var NARROW = 520;

  function shorten(text, max) {
    text = String(text);
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  function fitToWidth(config, options, width) {
    if (width >= NARROW) {
      return;
    }
    var legend = options.plugins.legend;
    if (legend && (legend.position === "right" || legend.position === "left")) {
      legend.position = "bottom";
    }
    if (config.type !== "bar" || !(config.data && config.data.labels)) {
      return;
    }
    var axisId = options.indexAxis === "y" ? "y" : "x";
    var max = Math.max(10, Math.floor(width / 22));
    options.scales = options.scales || {};
    options.scales[axisId] = options.scales[axisId] || {};
    options.scales[axisId].ticks = Object.assign({}, options.scales[axisId].ticks, {
      autoSkip: false,
      callback: function (value) { return shorten(this.getLabelForValue(value), max); },
    });
  }

  var X_TITLES = { step: "step", time: "wall clock (UTC)", relative: "time since the run's first point" };

  function pad(number) {
    return number < 10 ? "0" + number : String(number);
  }

  function formatX(mode, value) {
    if (mode === "time") {
      return new Date(value).toISOString().slice(5, 16).replace("T", " ");
    }
    if (mode === "relative") {
      var seconds = Math.round(value);
      var hours = Math.floor(seconds / 3600);
      return hours + ":" + pad(Math.floor((seconds % 3600) / 60)) + ":" + pad(seconds % 60);
    }
    return String(value);
  }

  function controlsOf(id) {
    var x = document.querySelector("[data-chart-x='" + id + "']");
    var log = document.querySelector("[data-chart-log='" + id + "']");
    var smooth = document.querySelector("[data-chart-smooth='" + id + "']");
    return {
      x: x ? x.value : "step",
      log: log ? log.checked : false,
      smooth: smooth ? Math.min(0.99, Math.max(0, parseFloat(smooth.value) || 0)) : 0,
    };
  }

  function applyControls(config, state) {
    config.data.datasets.forEach(function (dataset) {
      var first = null;
      dataset.data.forEach(function (point) {
        if (first === null && point.t !== undefined) {
          first = point.t;
        }
      });
      var average = 0;
      var count = 0;
      dataset.data = dataset.data.map(function (point) {
        var x = point.x;
        if (state.x === "time" && point.t !== undefined) {
          x = point.t;
        } else if (state.x === "relative" && point.t !== undefined) {
          x = (point.t - first) / 1000;
        }
        var y = point.y;
        if (state.smooth > 0 && y !== null) {
          average = average * state.smooth + (1 - state.smooth) * y;
          count += 1;
          y = average / (1 - Math.pow(state.smooth, count));
        }
        if (state.log && y !== null && y <= 0) {
          y = null;
        }
        return { x: x, y: y };
      });
    });
    var options = config.options;
    options.normalized = state.x === "step";
    options.scales = options.scales || {};
    var xScale = options.scales.x = options.scales.x || {};
    xScale.title = { display: true, text: X_TITLES[state.x] };
    xScale.ticks = Object.assign({}, xScale.ticks, {
      callback: function (value) { return formatX(state.x, value); },
    });
    var yScale = options.scales.y = options.scales.y || {};
    yScale.type = state.log ? "logarithmic" : "linear";
    options.plugins = options.plugins || {};
    options.plugins.tooltip = {
      callbacks: { title: function (items) { return items.length ? formatX(state.x, items[0].parsed.x) : ""; } },
    };
    return config;
  }

  function draw(canvas) {
    if (canvas.dataset.chartReady === "1") {
      return;
    }
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) {
      return;
    }
    var config = JSON.parse(source.textContent);
    if (config.metricControls) {
      config.options = config.options || {};
      applyControls(config, controlsOf(canvas.id));
    }
    var options = config.options || {};
    options.responsive = true;
    options.maintainAspectRatio = false;
    options.animation = false;
    options.plugins = options.plugins || {};
    if (config.zoom) {
      options.plugins.zoom = zoomOptions();
    }
    fitToWidth(config, options, canvas.parentElement ? canvas.parentElement.clientWidth : NARROW);
    colourise(config);
    new window.Chart(canvas, { type: config.type, data: config.data, options: options });
    canvas.dataset.chartReady = "1";
  }

  function drawAll(root) {
    if (typeof window.Chart === "undefined") {
      return;
    }
    var scope = root || document;
    if (scope.matches && scope.matches("canvas[data-chart]")) {
      draw(scope);
    }
    scope.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  function onControlChange(event) {
    var input = event.target.closest("[data-chart-x], [data-chart-log], [data-chart-smooth]");
    if (!input || typeof window.Chart === "undefined") {
      return;
    }
    var id = input.dataset.chartX || input.dataset.chartLog || input.dataset.chartSmooth;
    var canvas = document.getElementById(id);
    if (!canvas) {
      return;
    }
    if (input.dataset.chartSmooth !== undefined) {
      input.setAttribute("aria-valuetext", parseFloat(input.value) > 0 ? input.value : "none");
    }
    var chart = window.Chart.getChart(canvas);
    if (chart) {
      chart.destroy();
    }
    canvas.dataset.chartReady = "";
    draw(canvas);
  }

  function onClick(event) {
    var button = event.target.closest("[data-chart-action]");
    if (!button || typeof window.Chart === "undefined") {
      return;
    }
    var chart = window.Chart.getChart(document.getElementById(button.dataset.chartTarget));
    if (!chart) {
      return;
    }
    var action = button.dataset.chartAction;
    if (action === "reset") {
      chart.resetZoom();
    } else if (action === "zoom-in") {
      chart.zoom(1.5);
    } else if (action === "zoom-out") {
      chart.zoom(1 / 1.5);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { drawAll(); });
  } else {
    drawAll();
  }
  document.addEventListener("click", onClick);
  document.addEventListener("change", onControlChange);
  document.addEventListener("input", function (event) {
    if (event.target.matches("[data-chart-smooth]")) {
      onControlChange(event);
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();

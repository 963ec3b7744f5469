// Omniops dashboard behaviour: theme, charts (uPlot) and keeping the user's place across
// the 30 s refresh. Server-rendered partials carry their chart data in data-chart.
(function () {
  "use strict";
  var root = document.documentElement;
  var stored = null;
  try { stored = localStorage.getItem("omniops-theme"); } catch (e) { stored = null; }
  if (stored === "dark" || stored === "light") root.setAttribute("data-theme", stored);

  function toggleTheme() {
    var dark = root.getAttribute("data-theme") === "dark" ||
      (!root.getAttribute("data-theme") && window.matchMedia("(prefers-color-scheme: dark)").matches);
    var next = dark ? "light" : "dark";
    root.setAttribute("data-theme", next);
    try { localStorage.setItem("omniops-theme", next); } catch (e) { /* private mode */ }
    document.querySelectorAll("[data-chart]").forEach(function (el) { el.removeAttribute("data-drawn"); });
    drawCharts(document);
  }

  function css(name) { return getComputedStyle(root).getPropertyValue(name).trim(); }

  function money(v) { return v == null ? "" : "$" + v.toFixed(4); }

  function drawChart(el) {
    if (typeof uPlot === "undefined") return;
    var spec;
    try { spec = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
    el.innerHTML = "";
    var width = Math.max(el.clientWidth, 200);
    var colors = [css("--accent"), css("--warn"), css("--good"), css("--bad")];
    var axisStroke = css("--muted");
    var grid = { stroke: css("--border"), width: 1 };
    var bars = spec.kind === "bars";
    var series = [{}];
    var axes = [{ stroke: axisStroke, grid: grid, ticks: grid }];
    spec.series.forEach(function (s, i) {
      var scale = s.axis === "right" ? "right" : "y";
      series.push({
        label: s.label, scale: scale, stroke: colors[i % colors.length], width: 2,
        fill: bars ? colors[i % colors.length] + "99" : colors[i % colors.length] + "22",
        paths: bars && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 60] }) : undefined,
        points: { show: false },
        value: s.money ? function (u, v) { return money(v); } : undefined
      });
    });
    var usesRight = spec.series.some(function (s) { return s.axis === "right"; });
    axes.push({ stroke: axisStroke, grid: grid, ticks: grid, scale: "y", size: 70,
      values: spec.series[0] && spec.series[0].money ? function (u, vals) { return vals.map(function (v) { return "$" + v; }); } : undefined });
    if (usesRight) axes.push({ stroke: axisStroke, grid: { show: false }, scale: "right", side: 1, size: 60 });
    var x = spec.x;
    var opts = {
      width: width, height: spec.height || 240, series: series, axes: axes,
      scales: { x: { time: !spec.labels } },
      legend: { live: true }, cursor: { drag: { x: false, y: false } }
    };
    if (spec.labels) {
      x = spec.labels.map(function (_, i) { return i; });
      axes[0].values = function (u, vals) { return vals.map(function (v) { return spec.labels[v] || ""; }); };
      axes[0].space = 40;
      opts.scales.x = { time: false, range: [-0.5, spec.labels.length - 0.5] };
    }
    var data = [x].concat(spec.series.map(function (s) { return s.values; }));
    var plot = new uPlot(opts, data, el);
    el.setAttribute("data-drawn", "1");
    el._plot = plot;
    // Follow the card's width (layout changes, rotation, a narrower grid column).
    if (typeof ResizeObserver !== "undefined" && !el._observer) {
      el._observer = new ResizeObserver(function () {
        var w = Math.max(el.clientWidth, 200);
        if (el._plot && Math.abs(el._plot.width - w) > 2) el._plot.setSize({ width: w, height: el._plot.height });
      });
      el._observer.observe(el);
    }
  }

  function drawCharts(scope) {
    (scope || document).querySelectorAll("[data-chart]:not([data-drawn])").forEach(drawChart);
  }


  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (button) button.addEventListener("click", toggleTheme);
    drawCharts(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });
  // A refresh that fails keeps what is shown and says so beside it.
  document.addEventListener("htmx:responseError", function (event) {
    var target = event.detail.target;
    if (target && !target.querySelector(".error")) {
      var note = document.createElement("p");
      note.className = "error";
      note.textContent = "Refresh failed (" + event.detail.xhr.status + "); showing the last data.";
      target.prepend(note);
    }
  });
  document.addEventListener("htmx:sendError", function (event) {
    var target = event.detail.target;
    if (target && !target.querySelector(".error")) {
      var note = document.createElement("p");
      note.className = "error";
      note.textContent = "The server is unreachable; showing the last data.";
      target.prepend(note);
    }
  });
})();

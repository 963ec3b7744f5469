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
        points: { show: !!spec.labels && !bars, size: 4 },
        dash: s.dash ? [6, 4] : undefined,
        spanGaps: false,
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


  function toast(text, bad) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var note = document.createElement("div");
    note.className = bad ? "toast bad" : "toast";
    note.setAttribute("role", "status");
    note.textContent = text;
    box.appendChild(note);
    setTimeout(function () { note.remove(); }, 8000);
  }

  // The live stream: live sections refresh when it reports a change (at most every 0.5 s);
  // the indicator says whether it is connected, and a dropped connection is retried. While
  // the stream is down, live sections refresh every 10 s instead (the spec's ticker rate).
  var FALLBACK_MS = 10000;
  function connectLive() {
    var url = document.body.getAttribute("data-live-url");
    var indicator = document.getElementById("live-indicator");
    if (!url || !indicator) return;
    var poll = null;
    function fallback(on) {
      if (on && !poll) {
        poll = setInterval(function () {
          if (typeof htmx !== "undefined") htmx.trigger(document.body, "omniops:live");
        }, FALLBACK_MS);
        indicator.setAttribute("data-fallback", String(FALLBACK_MS / 1000));
      } else if (!on && poll) {
        clearInterval(poll);
        poll = null;
        indicator.removeAttribute("data-fallback");
      }
    }
    if (typeof EventSource === "undefined") { fallback(true); return; }
    var label = indicator.querySelector(".label");
    var dropped = false;
    var pending = null;
    function set(state, text) { indicator.setAttribute("data-state", state); label.textContent = text; }
    function changed() {
      if (pending) return;
      pending = setTimeout(function () {
        pending = null;
        if (typeof htmx !== "undefined") htmx.trigger(document.body, "omniops:live");
      }, 500);
    }
    var source = new EventSource(url);
    source.onopen = function () {
      fallback(false);
      set("live", "Live");
      if (dropped) { toast("Live updates reconnected."); changed(); }
      dropped = false;
    };
    source.onerror = function () {
      if (!dropped) toast("Live updates lost; reconnecting…", true);
      dropped = true;
      fallback(true);
      set("reconnecting", "Reconnecting");
    };
    ["session.started", "session.updated", "session.ended", "resync"].forEach(function (name) {
      source.addEventListener(name, changed);
    });
    source.addEventListener("summary", function (event) {
      try {
        var s = JSON.parse(event.data);
        indicator.title = s.activeSessions + " live sessions, $" + s.currentCost + " running";
      } catch (e) { /* a summary we cannot read changes nothing */ }
    });
    source.addEventListener("alert.fired", function (event) {
      try {
        var a = JSON.parse(event.data);
        toast("Budget alert: " + (a.domain || "all domains") + " " + a.alertType + " spend $" +
          a.currentSpend + " reached the $" + a.thresholdUsd + " limit.", true);
      } catch (e) { toast("A budget alert fired.", true); }
      changed();
    });
    source.addEventListener("unpriced.model", function (event) {
      try {
        var u = JSON.parse(event.data);
        toast("New model without a price: " + u.model + " on " + u.domain +
          ". Its sessions are counted as unpriced; set a price on the costs page or in Settings.", true);
      } catch (e) { toast("A model without a price was seen.", true); }
      changed();
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  }

  // Forms with data-api-url send their fields as JSON to the API (what a client would send):
  // dotted names nest ("woocommerce.url"), data-api-wrap puts the object in a one-item list,
  // empty fields are left out, checkboxes are booleans, data-type="number" fields numbers.
  function formJson(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "submit") return;
      var value;
      if (el.type === "checkbox" && el.hasAttribute("data-only-checked") && !el.checked) return;
      if (el.type === "checkbox") value = el.checked;
      else if (el.value.trim() === "") return;
      else if (el.getAttribute("data-type") === "number") value = Number(el.value);
      else value = el.value.trim();
      var path = el.name.split(".");
      var at = body;
      for (var i = 0; i < path.length - 1; i++) { at[path[i]] = at[path[i]] || {}; at = at[path[i]]; }
      at[path[path.length - 1]] = value;
    });
    var wrap = form.getAttribute("data-api-wrap");
    if (wrap) { var outer = {}; outer[wrap] = [body]; return outer; }
    return body;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var url = form.getAttribute && form.getAttribute("data-api-url");
    if (!url) return;
    event.preventDefault();
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    var method = form.getAttribute("data-api-method") || "POST";
    var result = form.querySelector(".form-result");
    var init = { method: method, headers: { "X-CSRF-Token": csrfToken() }, credentials: "same-origin" };
    if (method !== "DELETE") {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(formJson(form));
    }
    fetch(url, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) {
          if (result) {
            result.className = "form-result error";
            result.textContent = (answer.error || ("The server answered " + response.status)) + (answer.field ? " (" + answer.field + ")" : "");
          }
          return;
        }
        // A secret shown once (a new API key, an alert's webhook secret): keep it on screen.
        var secretField = form.getAttribute("data-show-key");
        var secret = secretField && (secretField === "true" ? answer.key : answer[secretField]);
        if (secret) {
          var shown = document.createElement("div");
          shown.className = "toast shown-once";
          shown.setAttribute("data-testid", "new-key");
          shown.textContent = "Shown once, copy it now: " + secret;
          document.getElementById("main").insertBefore(shown, document.getElementById("main").firstChild);
        }
        if (result) { result.className = "form-result"; result.textContent = "Saved."; }
        form.reset();
        if (typeof htmx !== "undefined") {
          htmx.trigger(document.body, "omniops:settings");
          htmx.trigger(document.body, "omniops:changed");
        }
      });
    }).catch(function () {
      if (result) { result.className = "form-result error"; result.textContent = "The server is unreachable."; }
    });
  });

  // The price import form sends the chosen file to the API as it is, with its options in
  // the query string, and shows what the import did (or would do).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var url = form.getAttribute && form.getAttribute("data-import-url");
    if (!url) return;
    event.preventDefault();
    var result = form.querySelector(".form-result");
    var report = form.querySelector("[data-testid=import-report]");
    var file = form.elements.file.files[0];
    if (!file) return;
    var query = "?dryRun=" + form.elements.dryRun.checked + "&recompute=" + form.elements.recompute.checked +
      "&source=" + encodeURIComponent(file.name) +
      (form.elements.effectiveFrom.value ? "&effectiveFrom=" + form.elements.effectiveFrom.value : "");
    file.text().then(function (text) {
      return fetch(url + query, { method: "POST", credentials: "same-origin", body: text,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() } });
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) {
          result.className = "form-result error";
          result.textContent = answer.error || ("The server answered " + response.status);
          return;
        }
        result.className = "form-result";
        result.textContent = (answer.dryRun ? "Dry run: nothing was stored. " : "Imported. ") +
          answer.added.length + " added, " + answer.changed.length + " changed, " + answer.unchanged +
          " unchanged, " + answer.keptUserPrices.length + " kept (your prices), " + answer.skipped + " left out." +
          (answer.recomputed ? " " + answer.recomputed.sessions + " sessions repriced." : "");
        report.textContent = "";
        var list = document.createElement("ul");
        list.className = "list";
        answer.added.slice(0, 20).forEach(function (m) {
          var li = document.createElement("li"); li.textContent = "added " + m; list.appendChild(li);
        });
        answer.changed.slice(0, 20).forEach(function (c) {
          var li = document.createElement("li");
          li.textContent = "changed " + c.model + ": input $" + c.before.input + " → $" + c.after.input +
            ", output $" + c.before.output + " → $" + c.after.output;
          list.appendChild(li);
        });
        report.appendChild(list);
        if (!answer.dryRun && typeof htmx !== "undefined") {
          htmx.trigger(document.body, "omniops:settings");
          htmx.trigger(document.body, "omniops:changed");
        }
      });
    }).catch(function () {
      result.className = "form-result error";
      result.textContent = "The file could not be read or the server is unreachable.";
    });
  });

  // "Price it" and "Edit" fill the price form with the model (and its current prices).
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-price-model]");
    if (!button) return;
    var form = document.getElementById("price-form");
    if (!form) return;
    form.elements.model.value = button.getAttribute("data-price-model");
    form.elements.input.value = button.getAttribute("data-input") || "";
    form.elements.output.value = button.getAttribute("data-output") || "";
    form.scrollIntoView({ block: "center" });
    form.elements.input.focus();
  });

  // Bars carry their width as data (inline styles are not allowed by the page's policy).
  function applyWidths(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-width]"), function (el) {
      el.style.width = el.getAttribute("data-width") + "%";
    });
  }

  // A select marked data-autosubmit submits its form when changed (the domain picker).
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.matches && el.matches("[data-autosubmit]") && el.form) el.form.submit();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (button) button.addEventListener("click", toggleTheme);
    drawCharts(document);
    applyWidths(document);
    connectLive();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    drawCharts(event.target);
    applyWidths(event.target);
    // A session's details arrived: show them in the modal.
    if (event.target && event.target.id === "session-modal-body") {
      var dialog = document.getElementById("session-modal");
      if (dialog && !dialog.open && dialog.showModal) dialog.showModal();
    }
  });
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

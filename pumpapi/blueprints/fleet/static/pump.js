// A pump's page: telemetry per channel, risk and health history, the forecast; events marked.
(function () {
  "use strict";
  var C = window.FleetCharts, d = C.data();
  var events = C.eventsPlugin(d.events);

  // Changing a choice shows it at once (the form still works without script).
  ["hours", "channel"].forEach(function (id) {
    var el = document.getElementById(id);
    if (el) el.addEventListener("change", function () { el.form.submit(); });
  });

  var h = d.history || {};
  if (h.t && h.t.length) {
    var series = [h.t], opts = [{}];
    if (h.risk) { series.push(h.risk); opts.push({ label: "risk", stroke: "#b3261e", scale: "risk", width: 2 }); }
    ["lubrificacao", "hidraulico"].forEach(function (name, i) {
      if (h[name]) { series.push(h[name]); opts.push({ label: name, stroke: i ? "#1a73e8" : "#1b7f3b", scale: "health", width: 2 }); }
    });
    var logged = d.logged || {};
    var plugins = [events, C.levelPlugin("risk", d.threshold, "#b3261e"),
                   C.levelPlugin("health", 70, "#a86b00"), C.levelPlugin("health", 40, "#b3261e")];
    C.timeChart(document.getElementById("chart-history"), {
      series: opts, plugins: plugins,
      scales: { x: { time: true }, risk: { range: [0, 1] }, health: { range: [0, 100] } },
      axes: [{}, { scale: "risk", label: "P(failure)" }, { scale: "health", side: 1, label: "index", grid: { show: false } }]
    }, series);
    var count = (logged.risk ? logged.risk.t.length : 0) + (logged.lubrificacao ? logged.lubrificacao.t.length : 0);
    document.getElementById("chart-history").dataset.logged = String(count);
  }

  var f = d.forecast;
  if (f) {
    var xs = f.recent_t.concat(f.t);
    var recent = f.recent.concat(f.t.map(function () { return null; }));
    var ahead = f.recent_t.map(function () { return null; }).concat(f.values);
    ahead[f.recent_t.length - 1] = f.recent[f.recent.length - 1];
    var marks = f.crossing_t ? [{ t: f.crossing_t, kind: "failure" }] : [];
    C.timeChart(document.getElementById("chart-forecast"), {
      series: [{}, { label: f.channel + " (" + f.unit + ")", stroke: "#12343b", width: 2 },
               { label: "forecast", stroke: "#a86b00", dash: [6, 4], width: 2 }],
      plugins: [C.eventsPlugin(marks)]
    }, [xs, recent, ahead]);
  }

  var t = d.telemetry || {};
  document.querySelectorAll(".chart[data-channel]").forEach(function (el) {
    var name = el.dataset.channel;
    if (!t.t || !t.t.length) return;
    C.timeChart(el, {
      series: [{}, { label: name + " (" + d.units[name] + ")", stroke: "#12343b", width: 1.5 }],
      plugins: [events]
    }, [t.t, t[name]]);
  });
})();

// The models page: offline beside realized figures, and PSI per input, per family.
(function () {
  "use strict";
  var C = window.FleetCharts, d = C.data();
  Object.keys(d).forEach(function (family) {
    var panel = d[family];
    var perf = document.getElementById("chart-performance-" + family);
    var rows = panel.comparison || [];
    if (perf && rows.length) {
      C.barChart(perf, rows.map(function (r) { return "v" + r.version + " " + r.metric; }),
        [rows.map(function (r) { return r.offline; }), rows.map(function (r) { return r.realized; })],
        ["offline", "realized"], ["#12343b", "#a86b00"]);
    }
    var drift = document.getElementById("chart-drift-" + family);
    if (drift && panel.drift.length) {
      C.barChart(drift, panel.drift.map(function (i) { return i.feature; }),
        [panel.drift.map(function (i) { return i.psi; })], ["PSI"], ["#1a73e8"]);
    }
  });
})();

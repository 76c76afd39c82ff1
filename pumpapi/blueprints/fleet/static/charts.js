// Shared by the fleet pages: read the page's JSON data block, and build uPlot charts that
// take their container's width (phones included) with event and level markers.
(function () {
  "use strict";
  var EVENT_COLOURS = { failure: "#b3261e", repair: "#1b7f3b", oil_change: "#a86b00",
                        battery_replaced: "#5b4bb7", inspection: "#12343b" };

  function data() {
    var block = document.getElementById("chart-data");
    return block ? JSON.parse(block.textContent) : {};
  }

  function width(el) { return Math.max(280, el.clientWidth - 4); }

  // Vertical lines at each event's time (failures, maintenance) on a time chart.
  function eventsPlugin(events) {
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
      (events || []).forEach(function (e) {
        var x = u.valToPos(e.t, "x", true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
        ctx.save();
        ctx.strokeStyle = EVENT_COLOURS[e.kind] || "#333";
        ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
        ctx.setLineDash([6, 4]);
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
        ctx.restore();
      });
    }] } };
  }

  // A horizontal line at `value` of `scale` (a threshold, a band's edge).
  function levelPlugin(scale, value, colour) {
    return { hooks: { draw: [function (u) {
      if (value === null || value === undefined) return;
      var y = u.valToPos(value, scale, true), ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = colour; ctx.setLineDash([4, 4]);
      ctx.lineWidth = window.devicePixelRatio || 1;
      ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke(); ctx.restore();
    }] } };
  }

  function timeChart(el, opts, series) {
    var chart = new uPlot(Object.assign({ width: width(el), height: el.classList.contains("small") ? 150 : 220,
      scales: { x: { time: true } }, legend: { live: false } }, opts), series, el);
    charts.push([el, chart]);
    return chart;
  }

  // Bars over named categories (x = 0..n-1, labelled by `names`).
  function barChart(el, names, series, labels, colours) {
    var xs = names.map(function (_, i) { return i; });
    var opts = {
      width: width(el), height: 220, legend: { live: false },
      // Bars stand on zero: a range fitted to the values would make small differences look large.
      scales: { x: { time: false, range: [-0.5, names.length - 0.5] },
                y: { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.1 : 1]; } } },
      axes: [{ values: function (u, splits) { return splits.map(function (i) { return names[i] || ""; }); },
               splits: function () { return xs; } }, {}],
      series: [{}].concat(series.map(function (_, i) {
        return { label: labels[i], stroke: colours[i], fill: colours[i] + "99",
                 paths: uPlot.paths.bars({ size: [0.8 / series.length, 60], align: i === 0 ? -1 : 1 }),
                 points: { show: false } };
      }))
    };
    var chart = new uPlot(opts, [xs].concat(series), el);
    charts.push([el, chart]);
    return chart;
  }

  var charts = [];
  window.addEventListener("resize", function () {
    charts.forEach(function (pair) { pair[1].setSize({ width: width(pair[0]), height: pair[1].height }); });
  });

  window.FleetCharts = { data: data, timeChart: timeChart, barChart: barChart,
                         eventsPlugin: eventsPlugin, levelPlugin: levelPlugin };
})();

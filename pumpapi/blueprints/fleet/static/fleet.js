// The fleet table: sort by a column, filter by text and by state. No data from the page is
// ever written as HTML: rows are only reordered and hidden.
(function () {
  "use strict";
  var table = document.getElementById("fleet");
  if (!table) return;
  var body = table.tBodies[0];
  var buttons = table.querySelectorAll("th button[data-sort]");
  var filter = document.getElementById("filter");
  var state = document.getElementById("state-filter");
  var count = document.getElementById("shown-count");

  function value(row, key, type) {
    var raw = row.dataset[key] || "";
    if (type === "number") return raw === "" ? null : parseFloat(raw);
    return raw.toLowerCase();
  }

  function sortBy(button, direction) {
    var key = button.dataset.sort, type = button.dataset.type;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, key, type), y = value(b, key, type);
      if (x === null && y === null) return 0;
      if (x === null) return 1;   // pumps without a value last, whatever the direction
      if (y === null) return -1;
      var order = x < y ? -1 : x > y ? 1 : 0;
      return direction === "ascending" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    buttons.forEach(function (b) { b.removeAttribute("aria-sort"); });
    button.setAttribute("aria-sort", direction);
  }

  buttons.forEach(function (button) {
    button.addEventListener("click", function () {
      var current = button.getAttribute("aria-sort");
      sortBy(button, current === "ascending" ? "descending" : "ascending");
    });
  });

  var worse = { "ALERTA": ["ALERTA"], "ATENÇÃO": ["ALERTA", "ATENÇÃO"] };

  function apply() {
    var text = (filter.value || "").trim().toLowerCase();
    var wanted = state.value;
    var shown = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var ok = !text || row.textContent.toLowerCase().indexOf(text) !== -1;
      if (ok && wanted === "at-risk") ok = row.dataset.atRisk === "yes";
      else if (ok && wanted === "stale") ok = row.dataset.stale === "yes";
      else if (ok && worse[wanted]) ok = worse[wanted].indexOf(row.dataset.band) !== -1;
      row.hidden = !ok;
      if (ok) shown += 1;
    });
    count.textContent = shown + " of " + body.rows.length + " pumps";
  }

  filter.addEventListener("input", apply);
  state.addEventListener("change", apply);
})();

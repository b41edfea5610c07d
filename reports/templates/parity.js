/* The report's script: filters, sticky offsets, copy buttons, and the check browser and detail panels
   fed by the compressed data block (inflated with the browser's own DecompressionStream: no network). */
(function () {
  "use strict";
  var LIMIT = 300;
  var root = document.documentElement;
  var nav = document.getElementById("nav");
  var merged = document.body.getAttribute("data-merged") === "true";
  var DIMS = { framework: "fw", loss: "loss", dtype: "dtype", verdict: "verdict" };
  var COLUMN_OF = { framework: "framework", loss: "loss", dtype: "dtype", verdict: "verdict" };
  var selected = {};
  var D = null, haystacks = null, detailAt = null, allowed = false;
  var view = { cell: null };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  /* -- layout: the sticky nav's height is where table headers stick ------------------------------- */
  function navHeight() { root.style.setProperty("--nav-h", nav.offsetHeight + "px"); }
  window.addEventListener("resize", navHeight);
  navHeight();

  /* -- open the collapsed sections a link points into ------------------------------------------- */
  function openTo(node) {
    for (var n = node; n; n = n.parentElement) { if (n.tagName === "DETAILS") { n.open = true; } }
  }
  function openHash() {
    if (!location.hash) { return; }
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) { openTo(target); target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openHash);
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href^='#']") : null;
    if (link && !link.hasAttribute("data-cell") && !link.hasAttribute("data-find")) {
      var target = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
      if (target) { openTo(target); }
    }
  });

  /* -- filters ---------------------------------------------------------------------------------- */
  var boxes = Array.prototype.slice.call(document.querySelectorAll("details.filter"));
  function readFilters() {
    boxes.forEach(function (box) {
      var dim = box.getAttribute("data-dim"), on = [], all = true;
      box.querySelectorAll("input").forEach(function (input) {
        if (input.checked) { on.push(input.value); } else { all = false; }
      });
      selected[dim] = all ? null : new Set(on);
      box.querySelector(".filter-state").textContent = all ? "all" : (on.length ? on.join(", ") : "none");
    });
  }
  function shown(node) {
    for (var dim in DIMS) {
      var set = selected[dim];
      if (!set) { continue; }
      var value = node.getAttribute("data-" + DIMS[dim]);
      if (value === null || value === "") { continue; }
      var parts = value.split(" ");
      for (var i = 0; i < parts.length; i++) { if (parts[i] && !set.has(parts[i])) { return false; } }
    }
    return true;
  }
  function fixSpans() {
    document.querySelectorAll("table[data-pivot]").forEach(function (table) {
      var heads = table.tHead.rows;
      if (heads.length < 2) { return; }
      Array.prototype.forEach.call(heads[0].querySelectorAll("th[data-group]"), function (group) {
        var name = group.getAttribute("data-fw"), n = 0;
        Array.prototype.forEach.call(heads[1].cells, function (cell) {
          if (cell.getAttribute("data-fw") === name && !cell.classList.contains("f-hide")) { n++; }
        });
        if (n) { group.colSpan = n; }
        group.classList.toggle("f-hide", n === 0);
      });
    });
  }
  var filtered = Array.prototype.slice.call(
    document.querySelectorAll("main [data-fw], main [data-loss], main [data-dtype], main [data-verdict], header [data-fw]"));
  function applyFilters() {
    readFilters();
    filtered.forEach(function (node) { node.classList.toggle("f-hide", !shown(node)); });
    fixSpans();
    allowed = false;
    renderBrowser();
  }
  boxes.forEach(function (box) {
    box.addEventListener("change", applyFilters);
    box.querySelectorAll("button[data-set]").forEach(function (button) {
      button.addEventListener("click", function () {
        var on = button.getAttribute("data-set") === "all";
        box.querySelectorAll("input").forEach(function (input) { input.checked = on; });
        applyFilters();
      });
    });
  });
  document.getElementById("filters-reset").addEventListener("click", function () {
    boxes.forEach(function (box) {
      box.querySelectorAll("input").forEach(function (input) { input.checked = true; });
      box.open = false;
    });
    applyFilters();
  });
  document.addEventListener("click", function (event) {  // a click elsewhere closes the filter menus
    boxes.forEach(function (box) { if (box.open && !box.contains(event.target)) { box.open = false; } });
  });

  /* -- copy buttons (clipboard API, else a selected textarea and execCommand: both offline) -------- */
  function copyDone(button, ok) {
    button.textContent = ok ? "Copied" : "Press Ctrl+C";
    button.setAttribute("data-copied", ok ? "yes" : "selected");
    setTimeout(function () { button.textContent = "Copy"; }, 1600);
  }
  function copyFallback(text, button, code) {
    var area = el("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.top = "0";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
    area.remove();
    if (!ok) {  // leave the code selected, so Ctrl+C takes it
      var range = document.createRange();
      range.selectNodeContents(code);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    copyDone(button, ok);
  }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var code = document.getElementById(button.getAttribute("data-copy"));
      var text = code.textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { copyDone(button, true); },
                                                 function () { copyFallback(text, button, code); });
      } else {
        copyFallback(text, button, code);
      }
    });
  });
  function toggleRecipes(open) {
    document.querySelectorAll("details.loss").forEach(function (box) { box.open = open; });
  }
  var opener = document.getElementById("recipes-open"), closer = document.getElementById("recipes-close");
  if (opener) { opener.addEventListener("click", function () { toggleRecipes(true); }); }
  if (closer) { closer.addEventListener("click", function () { toggleRecipes(false); }); }

  /* -- the data block ------------------------------------------------------------------------------ */
  function inflate() {
    var text = document.getElementById("lp-data").textContent.trim();
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser cannot inflate the data (DecompressionStream: Chrome 80+, Firefox 113+, Safari 16.4+)"));
    }
    var binary = atob(text), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).text().then(JSON.parse);
  }
  var FIELD = { version: "framework_version" };
  var shapeAt = null;
  function value(name, i) {
    name = FIELD[name] || name;
    if (name in shapeAt) { return D.shapes[D.cols.shape[i]][shapeAt[name]]; }
    var column = D.cols[name][i], table = D.dict[name];
    return table ? table[column] : column;
  }
  function size(s) {
    if (s === null || s === undefined) { return "\u2014"; }
    if (typeof s === "object") { return s.r + " rel"; }
    return (s === "inf" ? "\u221e" : s) + " ulp";
  }
  function buildAllowed() {  // which shapes the filters let through (null: all of them)
    var active = Object.keys(COLUMN_OF).filter(function (dim) { return selected[dim]; });
    if (!active.length) { allowed = null; return; }
    allowed = D.shapes.map(function (shape) {
      return active.every(function (dim) {
        var v = shape[shapeAt[COLUMN_OF[dim]]];
        return v === null || selected[dim].has(v);
      });
    });
  }
  function haystack(i) {
    if (haystacks === null) { haystacks = new Array(D.n); }
    if (haystacks[i] === undefined) {
      haystacks[i] = [D.cols.id[i], value("loss", i), value("framework", i),
        value("kind", i), value("dtype", i), value("binding", i), value("form", i), value("reason", i),
        value("case", i), value("deviation", i), value("verdict", i), merged ? value("run", i) : ""]
        .join(" ").toLowerCase();
    }
    return haystacks[i];
  }

  /* -- detail panels ------------------------------------------------------------------------------- */
  function addFact(dl, name, content) {
    if (content === null || content === undefined || content === "") { return; }
    dl.appendChild(el("dt", null, name));
    var dd = el("dd");
    if (typeof content === "object" && content.nodeType) { dd.appendChild(content); }
    else if (typeof content === "object") { dd.appendChild(el("pre", null, JSON.stringify(content, null, 1))); }
    else { dd.textContent = String(content); }
    dl.appendChild(dd);
  }
  function histogram(h) {
    var NS = "http:/" + "/www.w3.org/2000/svg", W = 300, H = 120, M = 18;  // a name, not a URL to load
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("class", "hist"); svg.setAttribute("width", W); svg.setAttribute("height", H);
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var top = Math.max(1, Math.max.apply(null, h.counts)), step = (W - 2 * M) / Math.max(1, h.counts.length);
    h.counts.forEach(function (count, i) {
      var height = count ? Math.max(1, (H - 2 * M) * Math.sqrt(count / top)) : 0;
      var bar = document.createElementNS(NS, "rect");
      bar.setAttribute("class", "bar ok"); bar.setAttribute("x", M + i * step + 1);
      bar.setAttribute("y", H - M - height); bar.setAttribute("width", Math.max(1, step - 2));
      bar.setAttribute("height", height);
      var title = document.createElementNS(NS, "title");
      title.textContent = h.labels[i] + ": " + count;
      bar.appendChild(title);
      svg.appendChild(bar);
      if (h.counts.length <= 16) {
        var tick = document.createElementNS(NS, "text");
        tick.setAttribute("class", "tick"); tick.setAttribute("x", M + i * step + step / 2); tick.setAttribute("y", H - 5);
        tick.textContent = h.labels[i];
        svg.appendChild(tick);
        if (count) {
          var label = document.createElementNS(NS, "text");
          label.setAttribute("class", "count"); label.setAttribute("x", M + i * step + step / 2);
          label.setAttribute("y", H - M - height - 2); label.textContent = count;
          svg.appendChild(label);
        }
      }
    });
    return svg;
  }
  function detailOf(i) {
    if (detailAt === null) {
      detailAt = {};
      D.di.forEach(function (row, k) { detailAt[row] = k; });
    }
    var box = el("div", "detail"), dl = el("dl", "facts");
    var badge = el("span", "badge v-" + value("verdict", i), value("verdict", i));
    addFact(dl, "check", D.cols.id[i]);
    addFact(dl, "verdict", badge);
    addFact(dl, "reason", value("reason", i));
    addFact(dl, "kind", value("kind", i));
    addFact(dl, "framework", [value("framework", i), value("version", i)].filter(Boolean).join(" "));
    addFact(dl, "loss", value("loss", i));
    addFact(dl, "dtype / device", [value("dtype", i), value("device", i)].filter(Boolean).join(" "));
    addFact(dl, "binding / form", [value("binding", i), value("form", i)].filter(Boolean).join(" "));
    addFact(dl, "case", value("case", i));
    addFact(dl, "deviation", value("deviation", i));
    if (merged) { addFact(dl, "run", value("run", i)); }
    var k = detailAt[i];
    if (k !== undefined) {
      var more = D.dv[k];
      Object.keys(more).forEach(function (key) {
        if (key === "histogram") { addFact(dl, "ulp histogram", histogram(more[key])); }
        else { addFact(dl, key, more[key]); }
      });
    } else {
      addFact(dl, "measured", "value " + size(D.cols.value[i]) + ", gradient " + size(D.cols.grad[i]) +
        " (the full record, inputs and outputs included, is in the results file under this id)");
    }
    box.appendChild(dl);
    return box;
  }

  /* -- the check browser --------------------------------------------------------------------------- */
  var search = document.getElementById("search");
  var body = document.getElementById("checks-body");
  var count = document.getElementById("checks-count");
  var COLUMNS = merged ? 10 : 9;
  function td(text, cls) {
    var cell = el("td", cls);
    cell.textContent = text === null || text === undefined || text === "" ? "\u2014" : String(text);
    return cell;
  }
  var SEPARATORS = /([.:\/_\-=,\[\]]+)/;
  function breakable(text, cls) {  // a cell whose text may wrap after separators, never letter by letter
    var cell = el("td", cls);
    if (text === null || text === undefined || text === "") { cell.textContent = "\u2014"; return cell; }
    String(text).split(SEPARATORS).forEach(function (part, k) {
      cell.appendChild(document.createTextNode(part));
      if (k % 2 === 1) { cell.appendChild(el("wbr")); }
    });
    return cell;
  }
  function makeRow(i) {
    var tr = el("tr"), first = el("td");
    tr.setAttribute("data-row", i);
    first.appendChild(el("span", "badge v-" + value("verdict", i), value("verdict", i)));
    tr.appendChild(first);
    tr.appendChild(breakable(D.cols.id[i], "id"));
    tr.appendChild(td(value("framework", i)));
    tr.appendChild(breakable(value("loss", i)));
    tr.appendChild(td(value("dtype", i)));
    tr.appendChild(breakable([value("binding", i), value("form", i)].filter(Boolean).join(" "), "mono"));
    tr.appendChild(td(size(D.cols.value[i]), "num"));
    tr.appendChild(td(size(D.cols.grad[i]), "num"));
    tr.appendChild(td(value("reason", i)));
    if (merged) { tr.appendChild(td(value("run", i))); }
    return tr;
  }
  function renderBrowser() {
    if (!D) { return; }
    if (allowed === false) { buildAllowed(); }
    var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var cellPos = shapeAt.cell, cell = view.cell, shapes = D.shapes, shapeOf = D.cols.shape;
    var matched = 0, fragment = document.createDocumentFragment();
    outer: for (var i = 0; i < D.n; i++) {
      var s = shapeOf[i];
      if (allowed !== null && !allowed[s]) { continue; }
      if (cell !== null && shapes[s][cellPos] !== cell) { continue; }
      if (terms.length) {
        var hay = haystack(i);
        for (var t = 0; t < terms.length; t++) { if (hay.indexOf(terms[t]) < 0) { continue outer; } }
      }
      matched++;
      if (matched <= LIMIT) { fragment.appendChild(makeRow(i)); }
    }
    body.replaceChildren(fragment);
    count.textContent = matched + " of " + D.n + " checks match" +
      (matched > LIMIT ? " (first " + LIMIT + " shown: narrow the filter)" : "");
    var exact = search.value.trim();
    var open = matched === 1 ? body.firstChild : Array.prototype.find.call(body.children, function (tr) {
      return D.cols.id[Number(tr.getAttribute("data-row"))] === exact;
    });
    if (open) { toggleDetail(open); }  // one match, or the check a link named: its detail at once
  }
  function toggleDetail(tr) {
    var next = tr.nextSibling;
    if (next && next.classList.contains("detail-row")) { next.remove(); return; }
    var row = el("tr", "detail-row"), cell = el("td");
    cell.colSpan = COLUMNS;
    cell.appendChild(detailOf(Number(tr.getAttribute("data-row"))));
    row.appendChild(cell);
    tr.parentNode.insertBefore(row, tr.nextSibling);
  }
  body.addEventListener("click", function (event) {
    var tr = event.target.closest("tr");
    if (tr && tr.hasAttribute("data-row")) { toggleDetail(tr); }
  });
  function setCell(anchor) {
    view.cell = anchor;
    document.getElementById("cell-filter").hidden = !anchor;
    document.getElementById("cell-filter-name").textContent = anchor ? anchor.replace(/^cell-/, "") : "";
    renderBrowser();
  }
  function goToBrowser() {
    var section = document.getElementById("checks");
    openTo(section);
    section.scrollIntoView();
  }
  var timer = null;
  search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(renderBrowser, 120); });
  document.getElementById("cell-filter-clear").addEventListener("click", function () { setCell(null); });
  document.addEventListener("click", function (event) {
    if (!event.target.closest) { return; }
    var link = event.target.closest("a[data-cell], a[data-find]");
    if (link) {
      event.preventDefault();
      if (link.hasAttribute("data-cell")) { search.value = ""; setCell(link.getAttribute("data-cell")); }
      else { view.cell = null; document.getElementById("cell-filter").hidden = true;
             search.value = link.getAttribute("data-find"); renderBrowser(); }
      goToBrowser();
      return;
    }
    var accuracy = event.target.closest("button.acc-cell");
    if (accuracy && D && accuracy.getAttribute("data-index") !== "") {
      var panel = document.getElementById("acc-detail");
      panel.replaceChildren(detailOf(Number(accuracy.getAttribute("data-index"))));
      panel.hidden = false;
    }
  });

  readFilters();
  openHash();
  count.textContent = "Loading the checks\u2026";
  inflate().then(function (data) {
    D = data;
    shapeAt = {};
    D.fields.forEach(function (field, k) { shapeAt[field] = k; });
    renderBrowser();
    document.body.setAttribute("data-ready", "true");
  }, function (error) {
    count.textContent = "The check browser could not load its data: " + error.message;
    document.body.setAttribute("data-ready", "error");
  });
})();

/*
 * 质量检查 (QC page for data staff): choose a county, town or village of the jurisdiction and
 * the tolerances, run the inspection in the background and follow its progress, then read the
 * summary, the counts by rule and the findings (filtered, 100 a page), each one on the map:
 * an overlap in red, a gap in orange, any other problem geometry in a neutral slate blue, over
 * the parcels' vector tiles. Downloads (xlsx, GeoJSON) carry the current filters. Earlier runs
 * of the scope can be reopened. The API is layers/apis.py (/api/qc/…).
 */
(function () {
  "use strict";

  var N = window.Nongdi;
  var el = N.el;
  var MAP_ID = "work-map";
  var PAGE_SIZE = 100;
  var POLL_MS = 700;
  var COLOURS = { DK_OVERLAP: "#d7191c", DK_GAP: "#f28e1c" };
  var NEUTRAL = "#4a6fa5";
  var SEVERITY = { error: "错误", warning: "警告" };

  function colourOf(rule) {
    return COLOURS[rule] || NEUTRAL;
  }

  function setup(map) {
    var cfg = N.readConfig("work-map-config");
    var ws = N.workspace(map, cfg, { shown: ["regions", "parcels", "xzdw", "mzdw"], rasters: false });
    var container = map.getContainer();
    var urls = cfg.qc;
    var ruleById = {};
    (cfg.rules || []).forEach(function (rule) {
      ruleById[rule.id] = rule;
    });
    var $ = function (id) {
      return document.getElementById(id);
    };
    var form = $("qc-form");
    var runButton = $("qc-run");
    var selects = { county: $("qc-county"), town: $("qc-town"), village: $("qc-village") };
    var message = $("qc-message");
    var progressBox = $("qc-progress-box");
    var progressBar = $("qc-progress");
    var progressText = $("qc-progress-text");
    var result = $("qc-result");
    var filterRule = $("qc-filter-rule");
    var filterSeverity = $("qc-filter-severity");
    var filterQuery = $("qc-filter-q");

    // What the page shows: the open run, its findings, the filtered list, the page of the table.
    var state = { run: null, findings: [], shown: [], page: 0, selected: null, geometries: {}, pollTimer: null, polling: null };

    // --- map layers: every finding of the filter (faint), the selected one (strong) ------------------
    if (!map.getPane("qc-findings")) {
      map.createPane("qc-findings").style.zIndex = 620;
      map.createPane("qc-highlight").style.zIndex = 640;
      map.getPane("qc-highlight").style.pointerEvents = "none";
    }
    var renderer = L.canvas({ pane: "qc-findings", padding: 0.3 });
    var findingsLayer = L.geoJSON(null, {
      pane: "qc-findings",
      renderer: renderer,
      style: function (feature) {
        var colour = colourOf(feature.properties.rule);
        return { color: colour, weight: 1.5, opacity: 0.8, fillColor: colour, fillOpacity: 0.25 };
      },
      pointToLayer: function (feature, latlng) {
        var colour = colourOf(feature.properties.rule);
        return L.circleMarker(latlng, { renderer: renderer, radius: 5, color: colour, weight: 1.5, fillOpacity: 0.4 });
      },
      onEachFeature: function (feature, layer) {
        layer.on("click", function (event) {
          L.DomEvent.stopPropagation(event);
          select(feature.properties.seq, true);
        });
      },
    }).addTo(map);
    ws.control.addOverlay(findingsLayer, "质检问题");
    var highlight = L.geoJSON(null, {
      pane: "qc-highlight",
      interactive: false,
      style: function (feature) {
        var colour = feature.properties.colour;
        return { color: colour, weight: 3, opacity: 1, fillColor: colour, fillOpacity: 0.55, dashArray: feature.properties.parcel ? "6 4" : null };
      },
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, { radius: 9, weight: 3, color: feature.properties.colour, fillOpacity: 0.6 });
      },
    }).addTo(map);

    // --- scope -------------------------------------------------------------------------------------
    var regions = cfg.regions || [];
    var prefix = cfg.qcPrefix || "";

    function option(select, value, text) {
      var node = el("option", null, text);
      node.value = value;
      select.appendChild(node);
    }

    function children(parent, length) {
      return regions.filter(function (r) {
        return r.code.length === length && r.code.indexOf(parent) === 0;
      });
    }

    function inspectable(code) {
      return code.indexOf(prefix) === 0;
    }

    function fill(select, items, parentCode, allText) {
      var keep = select.value;
      select.textContent = "";
      if (parentCode && inspectable(parentCode)) option(select, "", allText);
      items.forEach(function (r) {
        option(select, r.code, r.code + " " + r.name);
      });
      if (!items.length && !select.options.length) option(select, "", "—");
      if (keep && items.some(function (r) { return r.code === keep; })) select.value = keep;
      select.disabled = select.options.length < 2;
    }

    function fillScope() {
      var county = selects.county;
      var town = selects.town;
      fill(county, children("", 6), null, "");
      fill(town, county.value ? children(county.value, 9) : [], county.value, "全部乡镇（整县）");
      fill(selects.village, town.value ? children(town.value, 12) : [], town.value, "全部村（整个乡镇）");
    }

    function scope() {
      return selects.village.value || selects.town.value || selects.county.value;
    }

    function scopeName(code) {
      var region = regions.filter(function (r) { return r.code === code; })[0];
      return region ? region.name + "（" + code + "）" : code;
    }

    function presetScope(code) {
      if (!code) return;
      selects.county.value = code.slice(0, 6);
      fillScope();
      if (code.length >= 9) selects.town.value = code.slice(0, 9);
      fillScope();
      if (code.length >= 12) selects.village.value = code.slice(0, 12);
    }

    // --- messages and progress ---------------------------------------------------------------------
    function say(text, kind) {
      message.textContent = text || "";
      message.className = "qc-message" + (kind ? " " + kind : "");
    }

    function showProgress(summary) {
      progressBox.hidden = false;
      var fraction = Math.max(0, Math.min(1, Number(summary.progress) || 0));
      progressBar.value = fraction;
      progressText.textContent =
        (summary.state === "running" ? summary.stage || "运行中" : summary.state_label) + " " + Math.round(fraction * 100) + "%";
      container.setAttribute("data-progress", fraction.toFixed(2));
    }

    function busy(on) {
      runButton.disabled = on;
      container.setAttribute("data-run-state", on ? "running" : state.run ? state.run.state : "none");
    }

    // --- running and following a run ----------------------------------------------------------------
    function tolerances() {
      var out = {};
      var bad = null;
      form.querySelectorAll(".qc-tolerances input[type=number]").forEach(function (input) {
        var value = Number(input.value);
        if (input.value === "" || !isFinite(value) || value < 0 || value > Number(input.max)) {
          bad = bad || input;
          return;
        }
        out[input.name] = value;
      });
      if (bad) {
        var label = bad.parentNode.firstChild.textContent.trim();
        say(label + "应为 0 到 " + bad.max + " 之间的数字", "error");
        bad.focus();
        return null;
      }
      return out;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var values = tolerances();
      if (!values) return;
      var target = scope();
      if (!target) {
        say("请选择检查范围", "error");
        return;
      }
      busy(true);
      say("正在启动 " + scopeName(target) + " 的质检…");
      N.api("POST", urls.runs, { scope: target, tolerances: values, background: true }).then(function (answer) {
        if (answer.status === 202) {
          say("正在质检 " + scopeName(target) + "…");
          follow(answer.data.id);
          return;
        }
        var error = answer.data && answer.data.error;
        if (answer.status === 409 && error && error.details && error.details.run) {
          say(error.message, "notice");
          follow(error.details.run);
          return;
        }
        busy(false);
        say(N.errorMessage(answer), "error");
      });
    });

    $("qc-defaults").addEventListener("click", function () {
      form.querySelectorAll(".qc-tolerances input[type=number]").forEach(function (input) {
        input.value = input.getAttribute("data-default");
      });
    });

    /* Poll a run until it is no longer running; then show it. */
    function follow(id) {
      clearTimeout(state.pollTimer);
      state.polling = id;
      busy(true);
      N.api("GET", urls.run.replace("{id}", id)).then(function (answer) {
        if (state.polling !== id) return;
        if (!answer.ok) {
          busy(false);
          say(N.errorMessage(answer), "error");
          return;
        }
        var summary = answer.data.summary;
        showProgress(summary);
        if (summary.state === "running") {
          state.pollTimer = setTimeout(function () {
            follow(id);
          }, POLL_MS);
          return;
        }
        state.polling = null;
        busy(false);
        if (summary.state === "failed") {
          say(summary.message || "质检失败", "error");
          loadRuns(summary.scope);
          return;
        }
        say("质检完成：错误 " + summary.errors + " 处，警告 " + summary.warnings + " 处", "ok");
        show(answer.data);
        loadRuns(summary.scope);
      });
    }

    // --- a finished run ------------------------------------------------------------------------------
    function formatSeconds(s) {
      return s === null || s === undefined ? "—" : Number(s).toFixed(s < 10 ? 2 : 1) + " 秒";
    }

    function formatTime(iso) {
      if (!iso) return "—";
      var d = new Date(iso);
      var pad = function (n) {
        return (n < 10 ? "0" : "") + n;
      };
      return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    }

    function show(body) {
      var summary = body.summary;
      state.run = summary;
      state.findings = body.findings || [];
      state.selected = null;
      state.geometries = {};
      highlight.clearLayers();
      findingsLayer.clearLayers();
      result.hidden = false;
      container.setAttribute("data-run", String(summary.id));
      container.setAttribute("data-run-state", summary.state);
      container.removeAttribute("data-selected");
      $("qc-result-title").textContent = "检查结果：" + scopeName(summary.scope);

      var dl = $("qc-summary");
      dl.textContent = "";
      [
        ["检查地块", N.formatNumber(summary.parcels_checked, 0) + " 个"],
        ["错误", N.formatNumber(summary.errors, 0) + " 处", "errors"],
        ["警告", N.formatNumber(summary.warnings, 0) + " 处", "warnings"],
        ["耗时", formatSeconds(summary.duration_s)],
        ["开始时间", formatTime(summary.started_at)],
        ["检查人", summary.requested_by || "系统"],
        ["拓扑容差", (summary.tolerances.topology !== undefined ? summary.tolerances.topology : "—") + " 米；最小面积 " + (summary.tolerances.min_overlap_area !== undefined ? summary.tolerances.min_overlap_area : "—") + " 平方米"],
      ].forEach(function (row) {
        var wrap = el("div", row[2] ? "qc-" + row[2] : null);
        wrap.appendChild(el("dt", null, row[0]));
        wrap.appendChild(el("dd", null, row[1]));
        dl.appendChild(wrap);
      });

      // counts by rule (catalogue order), each a filter
      var tbody = $("qc-rules");
      tbody.textContent = "";
      var keep = filterRule.value;
      filterRule.textContent = "";
      option(filterRule, "", "全部规则");
      var counts = summary.counts || {};
      var ids = (cfg.rules || []).map(function (r) { return r.id; }).filter(function (id) { return counts[id]; });
      if (!ids.length) {
        var none = el("tr");
        var cell = el("td", "muted", "没有发现问题");
        cell.colSpan = 4;
        none.appendChild(cell);
        tbody.appendChild(none);
      }
      ids.forEach(function (id) {
        var rule = ruleById[id] || { zh: "", severity: "" };
        var row = el("tr", "qc-rule-row");
        row.setAttribute("data-rule", id);
        row.tabIndex = 0;
        row.title = "只看此规则的问题";
        var code = el("td");
        var swatch = el("span", "qc-swatch");
        swatch.style.background = colourOf(id);
        code.appendChild(swatch);
        code.appendChild(document.createTextNode(id));
        row.appendChild(code);
        row.appendChild(el("td", null, rule.zh));
        row.appendChild(el("td", "sev-" + rule.severity, SEVERITY[rule.severity] || ""));
        row.appendChild(el("td", "num", N.formatNumber(counts[id], 0)));
        var pick = function () {
          filterRule.value = filterRule.value === id ? "" : id;
          applyFilters();
        };
        row.addEventListener("click", pick);
        row.addEventListener("keydown", function (event) {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            pick();
          }
        });
        tbody.appendChild(row);
        option(filterRule, id, id + " " + (rule.zh.length > 16 ? rule.zh.slice(0, 16) + "…" : rule.zh));
      });
      if (keep && counts[keep]) filterRule.value = keep;

      applyFilters();
      // the problem geometries (lon/lat), by report position
      N.api("GET", urls.geojson.replace("{id}", summary.id)).then(function (answer) {
        if (!state.run || state.run.id !== summary.id) return;
        if (!answer.ok) {
          say(N.errorMessage(answer), "error");
          return;
        }
        (answer.data.features || []).forEach(function (feature) {
          state.geometries[feature.properties.seq] = feature;
        });
        drawFindings();
        container.setAttribute("data-geometries", String((answer.data.features || []).length));
      });
    }

    // --- filters, table, pages ---------------------------------------------------------------------
    function filters() {
      return { rule: filterRule.value, severity: filterSeverity.value, q: filterQuery.value.trim().toUpperCase() };
    }

    function matches(f, want) {
      if (want.rule && f.rule !== want.rule) return false;
      if (want.severity && f.severity !== want.severity) return false;
      if (want.q) {
        var codes = (f.dkbm || []).concat(f.codes || []);
        if (!codes.some(function (c) { return c.indexOf(want.q) >= 0; })) return false;
      }
      return true;
    }

    function queryString(want, extra) {
      var parts = [];
      Object.keys(want).forEach(function (key) {
        if (want[key]) parts.push(key + "=" + encodeURIComponent(want[key]));
      });
      if (extra) parts.push(extra);
      return parts.length ? "?" + parts.join("&") : "";
    }

    function applyFilters() {
      var want = filters();
      if (want.q && !/^[0-9A-Z]{1,19}$/.test(want.q)) {
        $("qc-count").textContent = "地块代码只能包含数字和字母";
        return;
      }
      state.shown = state.findings.filter(function (f) {
        return matches(f, want);
      });
      state.page = 0;
      document.querySelectorAll("#qc-rules tr[data-rule]").forEach(function (row) {
        row.setAttribute("aria-selected", row.getAttribute("data-rule") === want.rule ? "true" : "false");
      });
      if (state.run) {
        $("qc-xlsx").href = urls.xlsx.replace("{id}", state.run.id) + queryString(want);
        $("qc-geojson").href = urls.geojson.replace("{id}", state.run.id) + queryString(want, "download=1");
        $("qc-geojson").setAttribute("download", "qc_" + state.run.scope + "_" + state.run.id + ".geojson");
      }
      container.setAttribute("data-filtered", String(state.shown.length));
      renderTable();
      drawFindings();
    }

    var refilter = N.debounce(applyFilters, 250);
    filterRule.addEventListener("change", applyFilters);
    filterSeverity.addEventListener("change", applyFilters);
    filterQuery.addEventListener("input", refilter);

    function renderTable() {
      var tbody = $("qc-findings");
      tbody.textContent = "";
      var total = state.shown.length;
      var pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
      state.page = Math.min(state.page, pages - 1);
      var start = state.page * PAGE_SIZE;
      state.shown.slice(start, start + PAGE_SIZE).forEach(function (f) {
        var row = el("tr", "qc-finding");
        row.setAttribute("data-seq", String(f.seq));
        row.setAttribute("data-rule", f.rule);
        row.tabIndex = 0;
        if (state.selected === f.seq) row.setAttribute("aria-selected", "true");
        row.appendChild(el("td", "num", String(f.seq)));
        row.appendChild(el("td", null, f.rule));
        row.appendChild(el("td", "sev-" + f.severity, SEVERITY[f.severity] || f.severity));
        row.appendChild(el("td", "codes", (f.dkbm || []).concat(f.codes || []).join("、")));
        row.appendChild(el("td", "num", f.area_m2 === null || f.area_m2 === undefined ? "" : N.formatNumber(f.area_m2, 2)));
        row.appendChild(el("td", "message", f.message));
        row.addEventListener("click", function () {
          select(f.seq, false);
        });
        row.addEventListener("keydown", function (event) {
          if (event.key === "Enter") select(f.seq, false);
        });
        tbody.appendChild(row);
      });
      $("qc-count").textContent = state.findings.length
        ? "共 " + N.formatNumber(total, 0) + " 条" + (total !== state.findings.length ? "（全部 " + N.formatNumber(state.findings.length, 0) + " 条）" : "")
        : "";
      $("qc-page").textContent = "第 " + (state.page + 1) + " / " + pages + " 页";
      $("qc-prev").disabled = state.page === 0;
      $("qc-next").disabled = state.page >= pages - 1;
    }

    $("qc-prev").addEventListener("click", function () {
      state.page = Math.max(0, state.page - 1);
      renderTable();
    });
    $("qc-next").addEventListener("click", function () {
      state.page += 1;
      renderTable();
    });

    function drawFindings() {
      findingsLayer.clearLayers();
      var features = [];
      state.shown.forEach(function (f) {
        var feature = state.geometries[f.seq];
        if (feature) features.push(feature);
      });
      if (features.length) findingsLayer.addData({ type: "FeatureCollection", features: features });
    }

    // --- one finding on the map ----------------------------------------------------------------------
    function findingBySeq(seq) {
      for (var k = 0; k < state.findings.length; k++) if (state.findings[k].seq === seq) return state.findings[k];
      return null;
    }

    function zoomTo(layer) {
      var bounds = layer.getBounds();
      if (!bounds.isValid()) return;
      if (bounds.getNorthEast().equals(bounds.getSouthWest())) map.setView(bounds.getCenter(), 19, { animate: false });
      else map.fitBounds(bounds, { maxZoom: 19, padding: [40, 40], animate: false });
    }

    function select(seq, fromMap) {
      var f = findingBySeq(seq);
      if (!f) return;
      state.selected = seq;
      container.setAttribute("data-selected", String(seq));
      document.querySelectorAll("#qc-findings tr[aria-selected]").forEach(function (row) {
        row.removeAttribute("aria-selected");
      });
      var row = document.querySelector('#qc-findings tr[data-seq="' + seq + '"]');
      if (row) {
        row.setAttribute("aria-selected", "true");
        if (fromMap) row.scrollIntoView({ block: "nearest" });
      }
      highlight.clearLayers();
      var colour = colourOf(f.rule);
      var feature = state.geometries[seq];
      container.setAttribute("data-highlight", "");
      if (feature) {
        highlight.addData({ type: "Feature", geometry: feature.geometry, properties: { seq: seq, rule: f.rule, colour: colour } });
        container.setAttribute("data-highlight", f.rule);
        if (!fromMap) zoomTo(highlight);
        ws.status(f.rule + "：" + f.message);
        return;
      }
      if (f.dkbm && f.dkbm.length) {
        // no geometry of its own (an attribute or cross-table finding): show its parcel
        N.api("GET", N.url(cfg.urls.feature, f.dkbm[0])).then(function (answer) {
          if (state.selected !== seq) return;
          if (!answer.ok) {
            ws.status(N.errorMessage(answer), "notice");
            return;
          }
          highlight.addData({ type: "Feature", geometry: answer.data.geometry, properties: { seq: seq, rule: f.rule, colour: NEUTRAL, parcel: true } });
          container.setAttribute("data-highlight", f.rule);
          zoomTo(highlight);
          ws.status(f.rule + "：" + f.message);
        });
        return;
      }
      ws.status(f.rule + "：" + f.message + "（没有位置）", "notice");
    }

    // --- earlier runs ----------------------------------------------------------------------------------
    function loadRuns(target, openLatest) {
      var list = $("qc-runs");
      return N.api("GET", urls.runs + "?scope=" + encodeURIComponent(target)).then(function (answer) {
        if (scope() !== target) return;
        list.textContent = "";
        if (!answer.ok) {
          list.appendChild(el("li", "muted", N.errorMessage(answer)));
          return;
        }
        var runs = answer.data.runs || [];
        if (!runs.length) list.appendChild(el("li", "muted", "该范围还没有质检记录"));
        runs.forEach(function (run) {
          var item = el("li", "qc-run state-" + run.state);
          var button = el("button", "link-button", formatTime(run.started_at));
          button.type = "button";
          button.setAttribute("data-run", String(run.id));
          if (state.run && state.run.id === run.id) button.setAttribute("aria-current", "true");
          button.addEventListener("click", function () {
            if (run.state === "running") follow(run.id);
            else open(run.id);
          });
          item.appendChild(button);
          var text = " " + run.state_label;
          if (run.state === "done") text += "：错误 " + run.errors + "，警告 " + run.warnings + "，" + formatSeconds(run.duration_s);
          if (run.state === "running") text += " " + Math.round(run.progress * 100) + "%";
          if (run.state === "failed") text += "：" + run.message;
          text += "（" + (run.requested_by || "系统") + "）";
          item.appendChild(el("span", null, text));
          list.appendChild(item);
        });
        if (!openLatest) return;
        var running = runs.filter(function (r) { return r.state === "running"; })[0];
        var done = runs.filter(function (r) { return r.state === "done"; })[0];
        if (running) {
          say("该范围正在质检中…", "notice");
          follow(running.id);
        } else if (done) open(done.id);
      });
    }

    function open(id) {
      say("正在读取质检记录…");
      N.api("GET", urls.run.replace("{id}", id)).then(function (answer) {
        if (!answer.ok) {
          say(N.errorMessage(answer), "error");
          return;
        }
        var summary = answer.data.summary;
        if (summary.state === "failed") {
          say(summary.message, "error");
          return;
        }
        say("");
        progressBox.hidden = true;
        show(answer.data);
        document.querySelectorAll("#qc-runs button[data-run]").forEach(function (b) {
          if (b.getAttribute("data-run") === String(id)) b.setAttribute("aria-current", "true");
          else b.removeAttribute("aria-current");
        });
      });
    }

    function scopeChanged() {
      clearTimeout(state.pollTimer);
      state.polling = null;
      state.run = null;
      state.findings = [];
      state.shown = [];
      result.hidden = true;
      progressBox.hidden = true;
      highlight.clearLayers();
      findingsLayer.clearLayers();
      container.removeAttribute("data-run");
      busy(false);
      say("");
      var target = scope();
      if (target) loadRuns(target, true);
    }

    ["county", "town", "village"].forEach(function (level) {
      selects[level].addEventListener("change", function () {
        fillScope();
        scopeChanged();
      });
    });

    // --- start -----------------------------------------------------------------------------------------
    if (!urls) {
      say("质检接口尚未启用。", "error");
      runButton.disabled = true;
    } else if (!regions.length) {
      say("您的管辖范围内没有可检查的县、乡镇或村。", "error");
      runButton.disabled = true;
    } else {
      fillScope();
      presetScope(cfg.qcScope);
      scopeChanged();
    }
    N.qcPage = { map: map, findings: findingsLayer, highlight: highlight, state: state, colours: COLOURS, neutral: NEUTRAL };
    container.setAttribute("data-state", "ready");
  }

  window.addEventListener("map:init", function (event) {
    if (event.detail && event.detail.id === MAP_ID) setup(event.detail.map);
  });
})();

/*
 * 数据管理 (data staff map): a layer switcher for every layer, the quality-inspection findings
 * as an overlay (when the QC engine provides its GeoJSON endpoint), and the export of the
 * current selection as GeoJSON (click parcels to pick them, or take the whole view).
 */
(function () {
  "use strict";

  var N = window.Nongdi;
  var el = N.el;
  var MAP_ID = "work-map";
  var SEVERITY_COLOURS = { error: "#d7191c", warning: "#f39c12", info: "#2b83ba" };

  function setup(map) {
    var cfg = N.readConfig("work-map-config");
    var ws = N.workspace(map, cfg, { shown: ["regions", "farmland", "parcels", "xzdw", "mzdw", "jzx", "jzd"] });
    var container = map.getContainer();
    var selection = {}; // dkbm -> layer (outline)
    var selectionLayer = L.featureGroup().addTo(map);
    var bboxSelection = null;
    var exportLink = document.getElementById("export-link");
    var selectionState = document.getElementById("selection-state");
    var selectionList = document.getElementById("selection-list");

    // --- the layer switcher (panel), in sync with Leaflet's control --------------------------------
    var list = document.getElementById("layer-list");
    Object.keys(ws.overlays).forEach(function (title) {
      var layer = ws.overlays[title];
      var item = el("li");
      var label = el("label");
      var box = el("input");
      box.type = "checkbox";
      box.checked = map.hasLayer(layer);
      box.setAttribute("data-layer", title);
      box.addEventListener("change", function () {
        if (box.checked) map.addLayer(layer);
        else map.removeLayer(layer);
      });
      layer.on("add remove", function () {
        box.checked = map.hasLayer(layer);
      });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + title));
      item.appendChild(label);
      list.appendChild(item);
    });

    // --- quality-inspection findings -----------------------------------------------------------------
    var qcPanel = document.getElementById("qc-panel");
    if (cfg.qc) {
      var findings = L.geoJSON(null, {
        style: function (feature) {
          var colour = SEVERITY_COLOURS[feature.properties.severity] || "#d7191c";
          return { color: colour, weight: 2, fillColor: colour, fillOpacity: 0.35 };
        },
        pointToLayer: function (feature, latlng) {
          return L.circleMarker(latlng, { radius: 6 });
        },
        onEachFeature: function (feature, layer) {
          var p = feature.properties || {};
          layer.bindPopup(el("div", null, (p.rule || "") + "：" + (p.message || "")));
        },
      });
      ws.control.addOverlay(findings, "质检问题");
      var qcState = el("div", "qc-state");
      qcState.setAttribute("role", "status");
      var showRun = function (summary) {
        return N.api("GET", cfg.qc.geojson.replace("{id}", summary.id)).then(function (result) {
          if (!result.ok) {
            qcState.textContent = N.errorMessage(result);
            return;
          }
          findings.clearLayers();
          findings.addData(result.data);
          findings.addTo(map);
          var n = (result.data.features || []).length;
          container.setAttribute("data-qc", String(n));
          qcState.textContent =
            "质检 " + summary.started_at.slice(0, 16).replace("T", " ") + "：错误 " + summary.errors + " 处，警告 " +
            summary.warnings + " 处；地图上标出 " + n + " 处（红色错误，橙色警告）";
        });
      };
      var latest = el("button", null, "显示最近一次质检问题");
      latest.type = "button";
      latest.addEventListener("click", function () {
        qcState.textContent = "正在读取质检结果…";
        N.api("GET", cfg.qc.latest + "?scope=" + encodeURIComponent(cfg.qcScope)).then(function (result) {
          if (result.status === 404) {
            qcState.textContent = "该范围还没有质检记录，可先“运行质检”";
            return;
          }
          if (!result.ok) {
            qcState.textContent = N.errorMessage(result);
            return;
          }
          showRun(result.data.summary);
        });
      });
      var run = el("button", null, "运行质检");
      run.type = "button";
      // The run goes on in the background; the panel follows its stage until it is done.
      function follow(id) {
        N.api("GET", cfg.qc.run.replace("{id}", id)).then(function (answer) {
          if (!answer.ok) {
            run.disabled = false;
            qcState.textContent = N.errorMessage(answer);
            return;
          }
          var summary = answer.data.summary;
          if (summary.state === "running") {
            qcState.textContent =
              "正在质检 " + cfg.qcScope + "：" + (summary.stage || "运行中") + " " +
              Math.round((Number(summary.progress) || 0) * 100) + "%";
            setTimeout(function () {
              follow(id);
            }, 700);
            return;
          }
          run.disabled = false;
          if (summary.state === "failed") {
            qcState.textContent = summary.message || "质检失败";
            return;
          }
          showRun(summary);
        });
      }
      run.addEventListener("click", function () {
        qcState.textContent = "正在质检 " + cfg.qcScope + "，请稍候…";
        run.disabled = true;
        N.api("POST", cfg.qc.runs, { scope: cfg.qcScope, background: true }).then(function (result) {
          if (!result.ok) {
            run.disabled = false;
            qcState.textContent = N.errorMessage(result);
            return;
          }
          follow(result.data.id);
        });
      });
      var row = el("div", "button-row");
      row.appendChild(latest);
      row.appendChild(run);
      qcPanel.appendChild(row);
      qcPanel.appendChild(qcState);
    } else {
      qcPanel.appendChild(el("p", "muted", "质检接口尚未启用。"));
    }

    // --- selection and export ----------------------------------------------------------------------
    function renderSelection() {
      var codes = Object.keys(selection).sort();
      selectionList.textContent = "";
      codes.forEach(function (code) {
        selectionList.appendChild(el("li", null, code));
      });
      var href = null;
      if (bboxSelection) {
        selectionState.textContent = "已选择当前视图内的全部地块";
        href = cfg.urls.export + "?bbox=" + bboxSelection;
      } else if (codes.length) {
        selectionState.textContent = "已选择 " + codes.length + " 个地块";
        href = cfg.urls.export + "?codes=" + codes.join(",");
      } else {
        selectionState.textContent = "未选择地块";
      }
      container.setAttribute("data-selection", bboxSelection ? "view" : String(codes.length));
      if (href) {
        exportLink.href = href;
        exportLink.setAttribute("aria-disabled", "false");
      } else {
        exportLink.removeAttribute("href");
        exportLink.setAttribute("aria-disabled", "true");
      }
    }

    map.on("click", function (event) {
      if (map.getZoom() < ws.parcelMinZoom - 1) {
        ws.status("请先放大地图，再单击地块", "notice");
        return;
      }
      N.api("GET", cfg.urls.at + "?lng=" + event.latlng.lng.toFixed(9) + "&lat=" + event.latlng.lat.toFixed(9)).then(
        function (result) {
          if (!result.ok) return;
          var code = result.data.id;
          bboxSelection = null;
          if (selection[code]) {
            selectionLayer.removeLayer(selection[code]);
            delete selection[code];
          } else {
            selection[code] = L.geoJSON(result.data.geometry, {
              interactive: false,
              style: { color: "#e67e22", weight: 3, fillOpacity: 0.15, fillColor: "#e67e22" },
            });
            selectionLayer.addLayer(selection[code]);
          }
          renderSelection();
        }
      );
    });

    document.getElementById("select-view").addEventListener("click", function () {
      var b = map.getBounds();
      selectionLayer.clearLayers();
      selection = {};
      bboxSelection = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map(function (v) {
          return v.toFixed(7);
        })
        .join(",");
      renderSelection();
    });

    document.getElementById("select-clear").addEventListener("click", function () {
      selectionLayer.clearLayers();
      selection = {};
      bboxSelection = null;
      renderSelection();
    });

    exportLink.addEventListener("click", function (event) {
      if (exportLink.getAttribute("aria-disabled") === "true") event.preventDefault();
    });

    renderSelection();
    container.setAttribute("data-state", "ready");
  }

  window.addEventListener("map:init", function (event) {
    if (event.detail && event.detail.id === MAP_ID) setup(event.detail.map);
  });
})();

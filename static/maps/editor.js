/*
 * 测绘编辑 (surveyor editor), on Leaflet-Geoman: draw a new parcel, edit vertices, cut a hole,
 * split by a line, merge adjacent parcels; snapping to the neighbours' vertices and edges;
 * undo/redo (Ctrl+Z / Ctrl+Y) and Esc (or right click while splitting) to cancel; the live
 * overlap check shows the overlapping area before saving; area and 亩 update while drawing;
 * the attribute form and the drawn shape survive a refresh (localStorage); saves carry the
 * version they were based on, so a stale edit is refused with the server's message.
 *
 * Geometry goes to the server unrounded (toGeoJSON(false)): Leaflet rounds to 6 decimals by
 * default, which would move a vertex snapped onto a neighbour's by up to 5 cm.
 *
 * Parcels near the view come as GeoJSON from /api/editor/neighbours (at zoom ≥ editMinZoom):
 * Geoman snaps to vector layers, not to the vector tiles drawn underneath.
 */
(function () {
  "use strict";

  var N = window.Nongdi;
  var el = N.el;
  var MAP_ID = "work-map";
  var ATTRS = ["dkmc", "dklb", "tdlylx", "dldj", "tdyt", "sfjbnt", "syqxz", "dkdz", "dkxz", "dknz", "dkbz", "zjrxm", "dkbzxx"];
  var SIDES = ["dkdz", "dkxz", "dknz", "dkbz"];
  var CHECK_DELAY_MS = 300;
  var NEIGHBOUR_STYLE = { color: "#6b4f1d", weight: 1.5, opacity: 0.9, fill: true, fillOpacity: 0.04, fillColor: "#6b4f1d" };
  var FOREIGN_STYLE = { color: "#8a8a8a", weight: 1, opacity: 0.8, dashArray: "4 3", fill: true, fillOpacity: 0.02, fillColor: "#8a8a8a" };
  var SELECTED_STYLE = { color: "#e67e22", weight: 3, opacity: 1, fillOpacity: 0.15, fillColor: "#e67e22" };
  var WORK_STYLE = { color: "#1565c0", weight: 2.5, fillColor: "#1565c0", fillOpacity: 0.15 };

  function setup(map) {
    var cfg = N.readConfig("work-map-config");
    var ws = N.workspace(map, cfg);
    var container = map.getContainer();
    var storageKey = "nongdi.editor.draft." + cfg.user;
    map.doubleClickZoom.disable();
    if (map.pm.setLang) map.pm.setLang("zh");

    // --- DOM -------------------------------------------------------------------------------------
    var form = document.getElementById("attribute-form");
    var formTitle = document.getElementById("form-target");
    var messages = document.getElementById("editor-messages");
    var stateLine = document.getElementById("editor-state");
    var estimateBox = document.getElementById("area-estimate");
    var measuredBox = document.getElementById("area-measured");
    var snapInput = document.getElementById("snap-pixels");
    var snapEnabled = document.getElementById("snap-enabled");
    var snapGround = document.getElementById("snap-ground");
    var draftNotice = document.getElementById("draft-notice");
    var collectiveSelect = document.getElementById("f-collective");
    var buttons = {};
    Array.prototype.forEach.call(document.querySelectorAll(".toolbar [data-action]"), function (b) {
      buttons[b.getAttribute("data-action")] = b;
    });

    function field(name) {
      return form.elements.namedItem(name);
    }

    // Code-table selects and the collectives of the jurisdiction.
    function fillSelect(select, items, emptyLabel) {
      select.textContent = "";
      var empty = el("option", null, emptyLabel);
      empty.value = "";
      select.appendChild(empty);
      items.forEach(function (item) {
        var option = el("option", null, item[0] + " " + item[1]);
        option.value = item[0];
        select.appendChild(option);
      });
    }
    Object.keys(cfg.codes || {}).forEach(function (column) {
      var select = field(column);
      if (select) fillSelect(select, cfg.codes[column], select.required ? "请选择" : "（不填）");
    });
    fillSelect(
      collectiveSelect,
      (cfg.collectives || []).map(function (c) {
        return [c.code, c.name];
      }),
      "请选择发包方"
    );

    // --- state -----------------------------------------------------------------------------------
    var state = {
      mode: "idle", // idle | draw | edit | cut | split
      selected: [], // codes, in the order clicked
      target: null, // {kind: "new"|"edit", code, version}: what the form saves
      working: null, // {layer, history: [], future: [], snapshot}
    };
    var touched = {}; // form fields the surveyor typed in: suggestions leave them alone

    function setMode(mode) {
      state.mode = mode;
      container.setAttribute("data-mode", mode);
      Object.keys(buttons).forEach(function (name) {
        buttons[name].setAttribute("aria-pressed", String(name === mode));
      });
      updateButtons();
    }

    function updateButtons() {
      var single = state.selected.length === 1 && isEditable(state.selected[0]);
      buttons.edit.disabled = !(single || state.working) || state.mode === "edit";
      buttons.cut.disabled = !(state.working || single);
      buttons.split.disabled = !(single && !state.working);
      buttons.merge.disabled = !(state.selected.length >= 2 && !state.working);
      buttons.undo.disabled = !(state.mode === "draw" || (state.working && state.working.history.length));
      buttons.redo.disabled = !(state.working && state.working.future.length);
      buttons.cancel.disabled = state.mode === "idle" && !state.working && !state.selected.length;
    }

    function say(text) {
      stateLine.textContent = text;
    }

    function message(kind, text) {
      messages.textContent = "";
      if (!text) return;
      var box = el("div", kind, text);
      messages.appendChild(box);
      // The panel may be scrolled down to the 保存 button: bring refusals into view.
      if (kind === "error" && box.scrollIntoView) box.scrollIntoView({ block: "nearest" });
    }

    // --- snapping --------------------------------------------------------------------------------
    snapInput.value = cfg.snapPixels || 15;
    function metresPerPixel() {
      var lat = map.getCenter().lat;
      return (40075016.686 * Math.cos((lat * Math.PI) / 180)) / Math.pow(2, map.getZoom() + 8);
    }
    function snapOptions() {
      var px = Math.max(1, Number(snapInput.value) || 15);
      return { snappable: snapEnabled.checked, snapDistance: px, snapSegment: true, snapVertex: true };
    }
    function applySnap() {
      var ground = (Math.max(1, Number(snapInput.value) || 15) * metresPerPixel()).toFixed(2);
      snapGround.textContent = "（当前约 " + ground + " 米）";
      map.pm.setGlobalOptions(
        L.extend(snapOptions(), {
          allowSelfIntersection: false,
          templineStyle: { color: "#1565c0" },
          hintlineStyle: { color: "#1565c0", dashArray: "5 5" },
          pathOptions: WORK_STYLE,
        })
      );
    }
    snapInput.addEventListener("change", applySnap);
    snapEnabled.addEventListener("change", applySnap);
    map.on("zoomend", applySnap);
    applySnap();

    // --- neighbours --------------------------------------------------------------------------------
    var layersByCode = {};
    var propsByCode = {};
    var overlaps = L.geoJSON(null, {
      interactive: false,
      snapIgnore: true,
      pmIgnore: true,
      style: { color: "#d7191c", weight: 2, fillColor: "#d7191c", fillOpacity: 0.55 },
    }).addTo(map);
    var workGroup = L.featureGroup().addTo(map);

    function isEditable(code) {
      return !!(propsByCode[code] && propsByCode[code].editable);
    }

    function styleFor(code) {
      if (state.selected.indexOf(code) >= 0) return SELECTED_STYLE;
      return isEditable(code) ? NEIGHBOUR_STYLE : FOREIGN_STYLE;
    }

    var neighbours = L.geoJSON(null, {
      style: function (feature) {
        return styleFor(feature.properties.dkbm);
      },
      onEachFeature: function (feature, layer) {
        var code = feature.properties.dkbm;
        layersByCode[code] = layer;
        propsByCode[code] = feature.properties;
        layer.on("add", function () {
          var path = layer.getElement && layer.getElement();
          if (path) path.setAttribute("data-dkbm", code);
        });
        layer.on("click", function (event) {
          if (state.mode !== "idle") return;
          L.DomEvent.stopPropagation(event);
          var multi = event.originalEvent && (event.originalEvent.shiftKey || event.originalEvent.ctrlKey);
          clickParcel(code, multi);
        });
        layer.on("dblclick", function (event) {
          if (state.mode !== "idle") return;
          L.DomEvent.stopPropagation(event);
          map.fitBounds(layer.getBounds(), { padding: [40, 40], maxZoom: 20 });
        });
      },
    }).addTo(map);

    var loadSeq = 0;
    function loadNeighbours() {
      if (map.getZoom() < cfg.editMinZoom) {
        neighbours.clearLayers();
        layersByCode = {};
        container.setAttribute("data-neighbours", "0");
        say("放大到 " + cfg.editMinZoom + " 级以上开始编辑（当前 " + map.getZoom() + " 级）");
        return Promise.resolve();
      }
      var b = map.getBounds().pad(0.2);
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map(function (v) {
          return v.toFixed(7);
        })
        .join(",");
      var seq = ++loadSeq;
      container.setAttribute("data-neighbours", "loading");
      return N.api("GET", cfg.urls.neighbours + "?bbox=" + bbox).then(function (result) {
        if (seq !== loadSeq) return;
        if (!result.ok) {
          say(N.errorMessage(result));
          return;
        }
        neighbours.clearLayers();
        layersByCode = {};
        if (result.data.truncated) {
          say("当前视图地块过多，请放大后编辑");
          container.setAttribute("data-neighbours", "0");
          return;
        }
        var hidden = state.working && state.target && state.target.kind === "edit" ? state.target.code : null;
        result.data.features.forEach(function (feature) {
          if (feature.properties.dkbm !== hidden) neighbours.addData(feature);
          else propsByCode[hidden] = feature.properties;
        });
        container.setAttribute("data-neighbours", String(result.data.features.length));
        if (state.mode === "idle" && !state.working) say("单击地块选择，Shift+单击多选；双击缩放到地块");
        updateButtons();
      });
    }
    var scheduleNeighbours = N.debounce(loadNeighbours, 250);
    map.on("moveend", function () {
      // Reloading while drawing, cutting or splitting would drop the layers Geoman snaps to
      // mid-stroke; between vertex drags (edit) it is safe: the snap list is built per drag.
      if (state.mode === "idle" || state.mode === "edit") scheduleNeighbours();
    });

    // --- selection and the form ---------------------------------------------------------------------
    function restyle() {
      Object.keys(layersByCode).forEach(function (code) {
        layersByCode[code].setStyle(styleFor(code));
      });
    }

    function clickParcel(code, multi) {
      if (multi) {
        var at = state.selected.indexOf(code);
        if (at >= 0) state.selected.splice(at, 1);
        else state.selected.push(code);
      } else {
        state.selected = [code];
      }
      container.setAttribute("data-selected", state.selected.join(","));
      restyle();
      updateButtons();
      if (state.selected.length === 1) loadTarget(state.selected[0]);
      else if (state.selected.length > 1) {
        formTitle.textContent = "已选择 " + state.selected.length + " 个地块：" + state.selected.join("、");
        say("已选择 " + state.selected.length + " 个地块，可“合并”");
      }
    }

    function loadTarget(code) {
      return N.api("GET", N.url(cfg.urls.feature, code)).then(function (result) {
        if (!result.ok) {
          message("error", N.errorMessage(result));
          return null;
        }
        var props = result.data.properties;
        state.target = { kind: "edit", code: code, version: props.version, editable: isEditable(code) };
        touched = {};
        ATTRS.forEach(function (name) {
          setField(name, props[name]);
        });
        collectiveSelect.value = code.slice(0, 14);
        collectiveSelect.disabled = true;
        showTarget();
        showArea(null, { scmj: props.scmj, scmjm: props.scmjm });
        return result.data;
      });
    }

    function showTarget() {
      var t = state.target;
      if (!t) {
        formTitle.textContent = "未选择地块：单击地块选择，或“新建地块”。";
      } else if (t.kind === "new") {
        formTitle.textContent = "新地块（保存后按发包方自动编码）";
      } else {
        formTitle.textContent = "地块 " + t.code + "（版本 " + t.version + "）" + (t.editable === false ? " — 不在您的辖区，只读" : "");
      }
      form.setAttribute("data-target", t ? t.kind + ":" + (t.code || "") : "");
    }

    function setField(name, value) {
      var input = field(name);
      if (!input) return;
      input.value = value === null || value === undefined ? "" : value;
      input.classList.remove("suggested");
    }

    function attributes() {
      var out = {};
      ATTRS.forEach(function (name) {
        out[name] = field(name).value;
      });
      return out;
    }

    form.addEventListener("input", function (event) {
      if (event.target && event.target.name) {
        touched[event.target.name] = true;
        event.target.classList.remove("suggested");
      }
      saveDraft();
    });

    // --- drafts (survive a refresh) --------------------------------------------------------------
    function saveDraft() {
      if (!state.target && !state.working) return;
      var draft = {
        savedAt: new Date().toISOString(),
        target: state.target,
        collective: collectiveSelect.value,
        attributes: attributes(),
        touched: touched,
        geometry: state.working ? state.working.layer.toGeoJSON(false).geometry : null,
      };
      try {
        window.localStorage.setItem(storageKey, JSON.stringify(draft));
      } catch (e) {
        // Private mode or a full quota: the edit still works, it just will not survive a refresh.
      }
    }

    function clearDraft() {
      try {
        window.localStorage.removeItem(storageKey);
      } catch (e) {
        /* see saveDraft */
      }
      draftNotice.hidden = true;
    }

    function restoreDraft() {
      var raw = null;
      try {
        raw = window.localStorage.getItem(storageKey);
      } catch (e) {
        return;
      }
      if (!raw) return;
      var draft;
      try {
        draft = JSON.parse(raw);
      } catch (e) {
        clearDraft();
        return;
      }
      state.target = draft.target;
      touched = draft.touched || {};
      ATTRS.forEach(function (name) {
        setField(name, draft.attributes ? draft.attributes[name] : "");
      });
      collectiveSelect.value = draft.collective || "";
      collectiveSelect.disabled = !!(draft.target && draft.target.kind === "edit");
      if (draft.target && draft.target.kind === "edit") {
        state.selected = [draft.target.code];
        container.setAttribute("data-selected", draft.target.code);
      }
      showTarget();
      if (draft.geometry) {
        var layer = L.geoJSON(draft.geometry).getLayers()[0];
        startWorking(layer);
        map.fitBounds(layer.getBounds(), { padding: [60, 60], maxZoom: 19 });
      }
      var when = draft.savedAt ? new Date(draft.savedAt).toLocaleString("zh-CN", { hour12: false }) : "";
      document.getElementById("draft-text").textContent = "已恢复上次未保存的编辑（" + when + "）";
      draftNotice.hidden = false;
    }

    document.getElementById("draft-discard").addEventListener("click", function () {
      cancel();
      clearDraft();
      state.target = null;
      form.reset();
      showTarget();
      message("ok", "草稿已放弃");
    });

    // --- the working shape ---------------------------------------------------------------------------
    function snapshot(layer) {
      return JSON.parse(JSON.stringify(layer.getLatLngs()));
    }

    function editOptions() {
      return L.extend(snapOptions(), { allowSelfIntersection: false, draggable: false });
    }

    function startWorking(layer) {
      if (state.working && state.working.layer !== layer) workGroup.removeLayer(state.working.layer);
      layer.setStyle(WORK_STYLE);
      workGroup.addLayer(layer);
      state.working = { layer: layer, history: [], future: [], snapshot: snapshot(layer) };
      container.setAttribute("data-working", "1");
      layer.on("pm:edit", onShapeEdited);
      layer.on("pm:markerdrag", function () {
        showEstimate();
      });
      layer.pm.enable(editOptions());
      setMode("edit");
      onShapeChanged();
    }

    function onShapeEdited() {
      var w = state.working;
      if (!w) return;
      w.history.push(w.snapshot);
      w.snapshot = snapshot(w.layer);
      w.future = [];
      onShapeChanged();
    }

    function applySnapshot(latlngs) {
      var layer = state.working.layer;
      layer.pm.disable();
      layer.setLatLngs(latlngs);
      layer.pm.enable(editOptions());
      state.working.snapshot = JSON.parse(JSON.stringify(latlngs));
      onShapeChanged();
    }

    function undo() {
      if (state.mode === "draw") {
        var shape = map.pm.Draw.Polygon;
        if (shape && shape._layer && shape._layer.getLatLngs().length) shape._removeLastVertex();
        return;
      }
      if (state.mode === "split") {
        var line = map.pm.Draw.Line;
        if (line && line._layer && line._layer.getLatLngs().length) line._removeLastVertex();
        return;
      }
      var w = state.working;
      if (!w || !w.history.length) return;
      w.future.push(w.snapshot);
      applySnapshot(w.history.pop());
      say("已撤销");
    }

    function redo() {
      var w = state.working;
      if (!w || !w.future.length) return;
      w.history.push(w.snapshot);
      applySnapshot(w.future.pop());
      say("已重做");
    }

    function showEstimate() {
      if (!state.working) {
        estimateBox.textContent = "—";
        return;
      }
      var sqm = N.areaSqm(N.ringsOf(state.working.layer), cfg.areaCentralMeridian);
      estimateBox.textContent =
        N.formatNumber(sqm, 2) + " m²（" + N.formatNumber(sqm * cfg.muPerSqm, cfg.muDecimals) + " 亩）";
      estimateBox.setAttribute("data-sqm", sqm.toFixed(2));
    }

    function showArea(_, area) {
      measuredBox.textContent = area
        ? N.formatNumber(area.scmj, 2) + " m²（" + N.formatNumber(area.scmjm, cfg.muDecimals) + " 亩）"
        : "—";
    }

    function onShapeChanged() {
      // Stale until the debounced check answers: nobody should read the old verdict.
      container.setAttribute("data-check", "pending");
      showEstimate();
      saveDraft();
      updateButtons();
      scheduleCheck();
    }

    // --- the live check ---------------------------------------------------------------------------------
    var checkSeq = 0;
    function checkNow() {
      if (!state.working) return Promise.resolve(null);
      var seq = ++checkSeq;
      var exclude = state.target && state.target.kind === "edit" ? [state.target.code] : [];
      container.setAttribute("data-check", "pending");
      return N.api("POST", cfg.urls.check, { geometry: state.working.layer.toGeoJSON(false).geometry, exclude: exclude }).then(
        function (result) {
          if (seq !== checkSeq) return null;
          overlaps.clearLayers();
          if (!result.ok) {
            container.setAttribute("data-check", "error");
            message("error", N.errorMessage(result));
            return null;
          }
          var data = result.data;
          if (data.problem) {
            container.setAttribute("data-check", "invalid");
            message("error", "图形无效：" + data.problem);
            showArea(null, null);
            return data;
          }
          showArea(null, data.area);
          var found = data.overlaps.features;
          if (found.length) {
            overlaps.addData(data.overlaps);
            container.setAttribute("data-check", "overlap");
            message(
              "warning",
              "与现有地块重叠：" +
                found
                  .map(function (f) {
                    return f.properties.dkbm + "（" + N.formatNumber(f.properties.area_m2, 2) + " m²）";
                  })
                  .join("、") +
                "。红色为重叠部分，保存会被拒绝。"
            );
          } else {
            container.setAttribute("data-check", "ok");
            message("ok", "未发现与现有地块重叠");
          }
          applySuggestions(data);
          return data;
        }
      );
    }
    var scheduleCheck = N.debounce(checkNow, CHECK_DELAY_MS);

    function applySuggestions(data) {
      if (data.sizhi) {
        SIDES.forEach(function (side) {
          var suggestion = data.sizhi[side];
          var input = field(side);
          if (suggestion && !touched[side]) {
            input.value = suggestion.text;
            input.classList.add("suggested");
            input.title = "自动建议：" + (suggestion.kind === "parcel" ? "相邻地块 " + suggestion.code : "地物");
          }
        });
      }
      if (data.collective && state.target && state.target.kind === "new" && !touched.collective_code) {
        collectiveSelect.value = data.collective.code;
      }
      saveDraft();
    }

    // --- modes ---------------------------------------------------------------------------------------------
    function cancel() {
      map.pm.disableDraw();
      if (map.pm.globalCutModeEnabled && map.pm.globalCutModeEnabled()) map.pm.disableGlobalCutMode();
      scheduleCheck.cancel();
      overlaps.clearLayers();
      var hadWorking = !!state.working;
      if (state.working) {
        state.working.layer.pm.disable();
        workGroup.removeLayer(state.working.layer);
        state.working = null;
      }
      container.setAttribute("data-working", "0");
      container.removeAttribute("data-check");
      estimateBox.textContent = "—";
      if (state.target && state.target.kind === "new") {
        state.target = null;
        collectiveSelect.disabled = false;
        showTarget();
      }
      setMode("idle");
      if (hadWorking) {
        clearDraft();
        loadNeighbours();
      }
    }

    function requireZoom() {
      if (map.getZoom() >= cfg.editMinZoom) return true;
      message("warning", "请先放大到 " + cfg.editMinZoom + " 级以上再编辑");
      return false;
    }

    function startDraw() {
      if (!requireZoom()) return;
      cancel();
      state.selected = [];
      restyle();
      state.target = { kind: "new", code: null, version: null };
      touched = {};
      SIDES.forEach(function (side) {
        setField(side, "");
      });
      collectiveSelect.disabled = false;
      showTarget();
      message(null, "");
      setMode("draw");
      map.pm.enableDraw("Polygon", L.extend(snapOptions(), { allowSelfIntersection: false, pathOptions: WORK_STYLE }));
      say("单击地图逐点绘制新地块，单击起点完成；Ctrl+Z 删除上一点，Esc 取消");
    }

    function startEdit() {
      if (state.working) {
        state.working.layer.pm.enable(editOptions());
        setMode("edit");
        return Promise.resolve();
      }
      if (state.selected.length !== 1 || !requireZoom()) return Promise.resolve();
      var code = state.selected[0];
      return loadTarget(code).then(function (feature) {
        if (!feature) return;
        var layer = L.geoJSON(feature.geometry).getLayers()[0];
        if (layersByCode[code]) neighbours.removeLayer(layersByCode[code]);
        delete layersByCode[code];
        startWorking(layer);
        say("拖动节点修改边界，拖动边的中点增加节点，右键节点删除；Ctrl+Z 撤销，Esc 取消");
      });
    }

    function startCut() {
      var ready = state.working ? Promise.resolve() : startEdit();
      ready.then(function () {
        if (!state.working) return;
        state.working.layer.pm.disable();
        setMode("cut");
        map.pm.enableGlobalCutMode(L.extend(snapOptions(), { layersToCut: [state.working.layer], allowSelfIntersection: false }));
        say("在地块内逐点绘制要挖去的范围，单击起点完成；Esc 取消");
      });
    }

    map.on("pm:cut", function (event) {
      if (state.mode !== "cut" || !state.working) return;
      var w = state.working;
      var before = w.snapshot;
      map.pm.disableGlobalCutMode();
      if (event.originalLayer) workGroup.removeLayer(event.originalLayer);
      var layer = event.layer;
      // Geoman adds the result to the map itself; it belongs to the working group.
      if (map.hasLayer(layer)) map.removeLayer(layer);
      if (!(layer instanceof L.Polygon)) {
        message("error", "挖洞结果不是单个多边形，请撤销后重试");
        return;
      }
      startWorking(layer);
      state.working.history = w.history.concat([before]);
      state.working.future = [];
      updateButtons();
      say("已挖洞；可继续编辑或保存");
    });

    function startSplit() {
      if (state.selected.length !== 1 || !requireZoom()) return;
      var code = state.selected[0];
      setMode("split");
      map.pm.enableDraw("Line", L.extend(snapOptions(), { finishOn: "dblclick" }));
      say("画一条完整穿过地块 " + code + " 的分割线，双击结束；Esc 或右键取消");
    }

    map.on("pm:create", function (event) {
      if (state.mode === "draw" && event.shape === "Polygon") {
        map.removeLayer(event.layer);
        map.pm.disableDraw();
        startWorking(event.layer);
        say("已绘制。可拖动节点调整、挖洞，填写属性后保存");
      } else if (state.mode === "split" && event.shape === "Line") {
        map.removeLayer(event.layer);
        map.pm.disableDraw();
        split(state.selected[0], event.layer.toGeoJSON(false).geometry);
      }
    });

    map.on("contextmenu", function () {
      if (state.mode === "split") {
        cancel();
        say("已取消分割");
      }
    });

    function afterWrite(result, text) {
      clearDraft();
      cancel();
      state.selected = [];
      var saved = result.data.parcels || [];
      ws.refresh();
      return loadNeighbours().then(function () {
        if (saved.length === 1) {
          state.selected = [saved[0].id];
          restyle();
          loadTarget(saved[0].id);
        } else {
          state.target = null;
          showTarget();
        }
        container.setAttribute("data-saved", saved.map(function (f) { return f.id; }).join(","));
        message("ok", text + saved.map(function (f) { return f.id + "（版本 " + f.properties.version + "）"; }).join("、"));
        updateButtons();
      });
    }

    function showWriteError(result) {
      overlaps.clearLayers();
      var error = result.data && result.data.error;
      if (error && error.details && error.details.overlaps) overlaps.addData(error.details.overlaps);
      container.setAttribute("data-error", error ? error.code : "error");
      message("error", N.errorMessage(result));
    }

    function split(code, line) {
      var props = propsByCode[code];
      say("正在分割…");
      N.api("POST", N.url(cfg.urls.split, code), { expected_version: props ? props.version : 0, line: line }).then(
        function (result) {
          setMode("idle");
          if (!result.ok) {
            showWriteError(result);
            return;
          }
          afterWrite(result, "已分割地块 " + code + "，新地块：");
        }
      );
    }

    function merge() {
      var versions = {};
      state.selected.forEach(function (code) {
        versions[code] = propsByCode[code] ? propsByCode[code].version : 0;
      });
      say("正在合并…");
      N.api("POST", cfg.urls.merge, { parcels: versions }).then(function (result) {
        if (!result.ok) {
          showWriteError(result);
          return;
        }
        afterWrite(result, "已合并 " + state.selected.join("、") + "，新地块：");
      });
    }

    function save(event) {
      event.preventDefault();
      var t = state.target;
      if (!t) {
        message("warning", "请先选择地块或新建地块");
        return;
      }
      if (!form.reportValidity()) return;
      var attrs = attributes();
      var request;
      if (t.kind === "new") {
        if (!state.working) {
          message("warning", "请先在地图上绘制地块");
          return;
        }
        if (!collectiveSelect.value) {
          message("warning", "请选择发包方");
          return;
        }
        request = N.api("POST", cfg.urls.create, {
          collective_code: collectiveSelect.value,
          geometry: state.working.layer.toGeoJSON(false).geometry,
          attributes: attrs,
        });
      } else {
        var body = { expected_version: t.version, attributes: attrs };
        if (state.working) body.geometry = state.working.layer.toGeoJSON(false).geometry;
        request = N.api("PATCH", N.url(cfg.urls.update, t.code), body);
      }
      say("正在保存…");
      container.setAttribute("data-saving", "1");
      request.then(function (result) {
        container.removeAttribute("data-saving");
        if (!result.ok) {
          say("保存未成功");
          showWriteError(result);
          return;
        }
        container.removeAttribute("data-error");
        say("已保存");
        afterWrite(result, "已保存地块 ");
      });
    }
    form.addEventListener("submit", save);

    // --- toolbar and keyboard --------------------------------------------------------------------------------
    buttons.draw.addEventListener("click", startDraw);
    buttons.edit.addEventListener("click", function () {
      startEdit();
    });
    buttons.cut.addEventListener("click", startCut);
    buttons.split.addEventListener("click", startSplit);
    buttons.merge.addEventListener("click", merge);
    buttons.undo.addEventListener("click", undo);
    buttons.redo.addEventListener("click", redo);
    buttons.cancel.addEventListener("click", function () {
      cancel();
      state.selected = [];
      restyle();
      updateButtons();
      say("已取消");
    });

    document.addEventListener("keydown", function (event) {
      var inField = event.target && /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName);
      if (event.key === "Escape") {
        if (state.mode !== "idle" || state.working) {
          event.preventDefault();
          cancel();
          say("已取消");
        }
        return;
      }
      if (inField || !(event.ctrlKey || event.metaKey)) return;
      var key = event.key.toLowerCase();
      if (key === "z" && !event.shiftKey) {
        event.preventDefault();
        undo();
      } else if (key === "y" || (key === "z" && event.shiftKey)) {
        event.preventDefault();
        redo();
      }
    });

    collectiveSelect.addEventListener("change", function () {
      touched.collective_code = true;
      saveDraft();
    });

    setMode("idle");
    showTarget();
    restoreDraft();
    loadNeighbours();
  }

  window.addEventListener("map:init", function (event) {
    if (event.detail && event.detail.id === MAP_ID) setup(event.detail.map);
  });
})();

/*
 * The home map: parcels of the visible bbox from /api/map/parcels, styled by land-use type
 * (TDLYLX) or parcel category (DKLB), a legend, a status line and a popup per parcel.
 *
 * django-leaflet creates the map (settings LEAFLET_CONFIG) and fires `map:init`; everything
 * here hangs off that event. Texts shown to people are Chinese; identifiers are English.
 */
(function () {
  "use strict";

  var MAP_ID = "parcel-map";
  var DEBOUNCE_MS = 250;

  // GB/T 21010 二级类 → fill colour; unknown codes fall back to their 一级类 (first two digits).
  var LAND_USE_COLOURS = {
    "011": "#9fd4e8", // 水田
    "012": "#f5e27a", // 水浇地
    "013": "#f2c46d", // 旱地
    "021": "#e7a3c8", // 果园
    "022": "#c79bd9", // 茶园
    "023": "#e3b9e6", // 其他园地
    "031": "#5fae5f", // 有林地
    "032": "#8cc97a", // 灌木林地
    "033": "#a9d89b", // 其他林地
    "104": "#bdbdbd", // 农村道路
    "114": "#6fa8dc", // 坑塘水面
    "117": "#8fbfe6", // 沟渠
    "122": "#d9b38c", // 设施农用地
    "123": "#cfc6a8", // 田坎
  };
  var LAND_USE_GROUP_COLOURS = {
    "01": "#f5e27a",
    "02": "#e3b9e6",
    "03": "#8cc97a",
    "04": "#c6e58a",
    "10": "#bdbdbd",
    "11": "#8fbfe6",
    "12": "#d9d2c0",
  };
  var BUILT_UP_COLOUR = "#e8a39a"; // 05-09: 商服、工矿仓储、住宅、公共管理与公共服务、特殊用地
  var MISSING_COLOUR = "#d0d0d0";

  // NY/T 2539 C.7 地块类别 → fill colour.
  var CATEGORY_COLOURS = {
    "10": "#f2d16b", // 承包地块
    "21": "#f29e4c", // 自留地
    "22": "#a07cc5", // 机动地
    "23": "#b5835a", // 开荒地
    "99": "#9e9e9e", // 其他集体土地
  };

  var MODES = {
    tdlylx: { label: "土地利用类型", code: "tdlylx", name: "tdlylx_name", colour: landUseColour },
    dklb: { label: "地块类别", code: "dklb", name: "dklb_name", colour: categoryColour },
  };

  function landUseColour(code) {
    if (!code) return MISSING_COLOUR;
    if (LAND_USE_COLOURS[code]) return LAND_USE_COLOURS[code];
    var group = code.slice(0, 2);
    if (LAND_USE_GROUP_COLOURS[group]) return LAND_USE_GROUP_COLOURS[group];
    return BUILT_UP_COLOUR;
  }

  function categoryColour(code) {
    return (code && CATEGORY_COLOURS[code]) || MISSING_COLOUR;
  }

  function readConfig() {
    var node = document.getElementById("parcel-map-config");
    return node ? JSON.parse(node.textContent) : {};
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function formatNumber(value, decimals) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString("zh-CN", {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function clamp(value, low, high) {
    return Math.min(high, Math.max(low, value));
  }

  function bboxParam(map) {
    // GeoJSON order: lng,lat. Leaflet may report bounds past ±180/±90 when zoomed far out.
    var b = map.getBounds();
    return [
      clamp(b.getWest(), -180, 180).toFixed(6),
      clamp(b.getSouth(), -90, 90).toFixed(6),
      clamp(b.getEast(), -180, 180).toFixed(6),
      clamp(b.getNorth(), -90, 90).toFixed(6),
    ].join(",");
  }

  function popupContent(props, muDecimals) {
    var box = el("div", "parcel-popup");
    var table = el("table");
    var category = props.dklb_name ? props.dklb_name + "（" + props.dklb + "）" : props.dklb;
    var landUse = props.tdlylx ? (props.tdlylx_name || "") + "（" + props.tdlylx + "）" : "未填写";
    var rows = [
      ["地块编码", props.dkbm, "dkbm"],
      ["地块名称", props.dkmc, "dkmc"],
      ["地块类别", category, "dklb"],
      ["土地利用类型", landUse, "tdlylx"],
      ["实测面积", formatNumber(props.scmj, 2) + " m²", "scmj"],
      ["实测面积（亩）", formatNumber(props.scmjm, muDecimals) + " 亩", "scmjm"],
    ];
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("th", null, row[0]));
      var td = el("td", "popup-" + row[2], row[1]);
      tr.appendChild(td);
      table.appendChild(tr);
    });
    box.appendChild(table);
    return box;
  }

  function setup(map) {
    var config = readConfig();
    var container = map.getContainer();
    var muDecimals = config.muDecimals === undefined ? 2 : config.muDecimals;
    var mode = "tdlylx";
    var modeChosen = false;
    var layersByCode = {};
    var requestSeq = 0;
    var inFlight = null;

    if (map.attributionControl) map.attributionControl.setPrefix("Leaflet");

    if (config.outline) {
      L.geoJSON(config.outline, {
        interactive: false,
        style: { color: "#1f4e3d", weight: 2, dashArray: "6 4", fill: false },
      }).addTo(map);
    }

    function style(feature) {
      var m = MODES[mode];
      return {
        color: "#5a4a2a",
        weight: 1,
        opacity: 0.9,
        fillColor: m.colour(feature.properties[m.code]),
        fillOpacity: 0.75,
      };
    }

    var parcels = L.geoJSON(null, {
      style: style,
      onEachFeature: function (feature, layer) {
        var code = feature.properties.dkbm;
        layersByCode[code] = layer;
        layer.bindPopup(function () {
          return popupContent(feature.properties, muDecimals);
        });
        layer.on("add", function () {
          var path = layer.getElement && layer.getElement();
          if (path) path.setAttribute("data-dkbm", code);
        });
        layer.on("popupopen", function () {
          layer.setStyle({ color: "#c0392b", weight: 3 });
          layer.bringToFront();
        });
        layer.on("popupclose", function () {
          parcels.resetStyle(layer);
        });
      },
    }).addTo(map);

    // Status (top right): what the user sees, and the state of the last load.
    var status = L.control({ position: "topright" });
    var scopeLine, stateLine;
    status.onAdd = function () {
      var box = el("div", "map-panel map-status");
      scopeLine = el("div", "scope", config.scopeLabel || "");
      stateLine = el("div", "state");
      stateLine.setAttribute("role", "status");
      box.appendChild(scopeLine);
      box.appendChild(stateLine);
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    status.addTo(map);

    function setState(state, text, className) {
      container.setAttribute("data-state", state);
      stateLine.textContent = text;
      stateLine.className = "state " + (className || "");
    }

    // Legend (bottom right): colour by land-use type or by category; classes present in view.
    var legend = L.control({ position: "bottomright" });
    var legendList, modeSelect;
    legend.onAdd = function () {
      var box = el("div", "map-panel map-legend");
      box.appendChild(el("h2", null, "图例"));
      modeSelect = el("select");
      modeSelect.setAttribute("aria-label", "着色依据");
      Object.keys(MODES).forEach(function (key) {
        var option = el("option", null, "按" + MODES[key].label);
        option.value = key;
        modeSelect.appendChild(option);
      });
      modeSelect.value = mode;
      modeSelect.addEventListener("change", function () {
        modeChosen = true;
        setMode(modeSelect.value);
      });
      legendList = el("ul");
      box.appendChild(modeSelect);
      box.appendChild(legendList);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    legend.addTo(map);

    function renderLegend() {
      var m = MODES[mode];
      var classes = {};
      parcels.eachLayer(function (layer) {
        var props = layer.feature.properties;
        var code = props[m.code] || "";
        if (!classes[code]) classes[code] = props[m.name] || "未填写";
      });
      legendList.textContent = "";
      var codes = Object.keys(classes).sort();
      if (!codes.length) {
        legendList.appendChild(el("li", "empty", "当前视图内没有地块"));
        return;
      }
      codes.forEach(function (code) {
        var item = el("li");
        var swatch = el("span", "swatch");
        swatch.style.background = m.colour(code);
        item.appendChild(swatch);
        item.appendChild(el("span", null, code ? code + " " + classes[code] : classes[code]));
        legendList.appendChild(item);
      });
    }

    function setMode(next) {
      mode = next;
      modeSelect.value = mode;
      parcels.eachLayer(function (layer) {
        if (layer.isPopupOpen && layer.isPopupOpen()) return;
        parcels.resetStyle(layer);
      });
      renderLegend();
    }

    function show(features) {
      var wanted = {};
      features.forEach(function (feature) {
        wanted[feature.properties.dkbm] = true;
      });
      // Keep parcels already drawn (an open popup survives panning), drop those out of view.
      Object.keys(layersByCode).forEach(function (code) {
        if (!wanted[code]) {
          parcels.removeLayer(layersByCode[code]);
          delete layersByCode[code];
        }
      });
      features.forEach(function (feature) {
        if (!layersByCode[feature.properties.dkbm]) parcels.addData(feature);
      });
      if (!modeChosen && mode === "tdlylx" && features.length) {
        var anyLandUse = features.some(function (f) {
          return f.properties.tdlylx;
        });
        if (!anyLandUse) setMode("dklb");
      }
      renderLegend();
    }

    function clear() {
      parcels.clearLayers();
      layersByCode = {};
      renderLegend();
    }

    function load() {
      var seq = ++requestSeq;
      if (inFlight) inFlight.abort();
      inFlight = window.AbortController ? new AbortController() : null;
      setState("loading", "正在加载地块…");
      fetch(config.parcelsUrl + "?bbox=" + encodeURIComponent(bboxParam(map)), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: inFlight ? inFlight.signal : undefined,
      })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          if (seq !== requestSeq) return;
          if (data.truncated) {
            clear();
            container.setAttribute("data-count", "0");
            setState("truncated", "请放大地图查看地块（当前范围超过 " + data.limit + " 个地块）", "notice");
            return;
          }
          show(data.features);
          container.setAttribute("data-count", String(data.features.length));
          setState(
            "loaded",
            data.features.length ? "当前视图共 " + data.features.length + " 个地块" : "当前视图内没有地块"
          );
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") return;
          if (seq !== requestSeq) return;
          setState("error", "地块加载失败，请稍后重试", "error");
        });
    }

    var scheduleLoad = debounce(load, DEBOUNCE_MS);
    map.on("moveend", scheduleLoad);

    renderLegend();
    if (config.bounds) {
      map.fitBounds(config.bounds, { padding: [20, 20] });
    }
    scheduleLoad();
  }

  window.addEventListener("map:init", function (event) {
    if (event.detail && event.detail.id === MAP_ID) setup(event.detail.map);
  });
})();

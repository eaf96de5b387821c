/*
 * The home map (the public map): parcels drawn from the vector tiles /tiles/parcels/{z}/{x}/{y}.pbf
 * (their TileJSON, /tiles/parcels.json, gives the URL, the minimum zoom and the names of the
 * coded values), coloured by land-use type (TDLYLX) or parcel category (DKLB); region outlines
 * from /tiles/regions; a legend and a status line for the parcels in view; a click asks the
 * identify API (/api/parcels/at) for the parcel under the pointer and shows its public
 * attributes. Tiles and the identify API give the public no personal data, and the popup shows
 * only parcel attributes even to signed-in staff.
 *
 * django-leaflet creates the map (settings LEAFLET_CONFIG) and fires `map:init`; everything
 * here hangs off that event. Texts shown to people are Chinese; identifiers are English.
 */
(function () {
  "use strict";

  var N = window.Nongdi;
  var el = N.el;
  var MAP_ID = "parcel-map";
  var TILE_SIZE = 256;

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
    tdlylx: { label: "土地利用类型", code: "tdlylx", colour: landUseColour },
    dklb: { label: "地块类别", code: "dklb", colour: categoryColour },
  };
  var FILL_OPACITY = 0.75;

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

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    });
  }

  // The page's own origin for the tiles: behind a TLS proxy the TileJSON's absolute URL may
  // carry the scheme the application server saw.
  function sameOrigin(template) {
    return template.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]+/i, "");
  }

  function popupContent(props, muDecimals) {
    // Parcel attributes only: the identify API adds a register summary (with contractor
    // names) for signed-in staff, which the public map never shows.
    var box = el("div", "parcel-popup");
    var table = el("table");
    var category = props.dklb_name ? props.dklb_name + "（" + props.dklb + "）" : props.dklb;
    var landUse = props.tdlylx ? (props.tdlylx_name || "") + "（" + props.tdlylx + "）" : "未填写";
    var rows = [
      ["地块编码", props.dkbm, "dkbm"],
      ["地块名称", props.dkmc, "dkmc"],
      ["地块类别", category, "dklb"],
      ["土地利用类型", landUse, "tdlylx"],
      ["实测面积", N.formatNumber(props.scmj, 2) + " m²", "scmj"],
      ["实测面积（亩）", N.formatNumber(props.scmjm, muDecimals) + " 亩", "scmjm"],
    ];
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("th", null, row[0]));
      tr.appendChild(el("td", "popup-" + row[2], row[1]));
      table.appendChild(tr);
    });
    box.appendChild(table);
    return box;
  }

  /*
   * The parcels' vector tiles, remembering what each loaded tile holds (code, the coded
   * values, bbox in pixels at the tile's zoom) for the status line and the legend.
   * `_getVectorTilePromise` is VectorGrid's documented extension point (its Protobuf and
   * Slicer layers implement it); this one wraps the Protobuf one.
   */
  var ParcelTiles = L.VectorGrid.Protobuf.extend({
    initialize: function (url, options) {
      L.VectorGrid.Protobuf.prototype.initialize.call(this, url, options);
      this.contents = {};
      this.on("tileunload", function (event) {
        delete this.contents[this._tileCoordsToKey(event.coords)];
      });
    },

    _getVectorTilePromise: function (coords, tileBounds) {
      var self = this;
      var key = this._tileCoordsToKey(coords);
      return L.VectorGrid.Protobuf.prototype._getVectorTilePromise.call(this, coords, tileBounds).then(function (json) {
        var layer = json.layers && json.layers.parcels;
        var features = [];
        if (layer) {
          var scale = TILE_SIZE / layer.extent;
          var x0 = coords.x * TILE_SIZE;
          var y0 = coords.y * TILE_SIZE;
          layer.features.forEach(function (feature) {
            var minX = Infinity;
            var minY = Infinity;
            var maxX = -Infinity;
            var maxY = -Infinity;
            feature.geometry.forEach(function (ring) {
              ring.forEach(function (p) {
                if (p.x < minX) minX = p.x;
                if (p.y < minY) minY = p.y;
                if (p.x > maxX) maxX = p.x;
                if (p.y > maxY) maxY = p.y;
              });
            });
            features.push({
              props: feature.properties,
              box: [x0 + minX * scale, y0 + minY * scale, x0 + maxX * scale, y0 + maxY * scale],
            });
          });
        }
        self.contents[key] = { z: coords.z, features: features };
        return json;
      });
    },

    // The parcels of the loaded tiles at zoom z whose bbox meets `bounds` (pixels at z), once each.
    featuresIn: function (z, bounds) {
      var seen = {};
      var out = [];
      Object.keys(this.contents).forEach(function (key) {
        var tile = this.contents[key];
        if (tile.z !== z) return;
        tile.features.forEach(function (f) {
          var code = f.props.dkbm;
          if (seen[code]) return;
          if (f.box[2] < bounds.min.x || f.box[0] > bounds.max.x || f.box[3] < bounds.min.y || f.box[1] > bounds.max.y) {
            return;
          }
          seen[code] = true;
          out.push(f.props);
        });
      }, this);
      return out;
    },
  });

  function setup(map) {
    var config = N.readConfig("parcel-map-config");
    var container = map.getContainer();
    var frame = container.closest(".map-frame");
    var muDecimals = config.muDecimals === undefined ? 2 : config.muDecimals;
    var mode = "tdlylx";
    var modeChosen = false;
    var codes = { tdlylx: {}, dklb: {} };
    var parcels = null;
    var minZoom = 14;
    var maxNativeZoom = 18;
    var highlight = N.highlighter(map);
    var identifySeq = 0;

    if (map.attributionControl) map.attributionControl.setPrefix("Leaflet");

    if (config.outline) {
      L.geoJSON(config.outline, {
        interactive: false,
        style: { color: "#1f4e3d", weight: 2, dashArray: "6 4", fill: false },
      }).addTo(map);
    }

    // Status (top right): what the user sees, and the state of the parcel layer.
    var status = L.control({ position: "topright" });
    var stateLine;
    status.onAdd = function () {
      var box = el("div", "map-panel map-status");
      box.appendChild(el("div", "scope", config.scopeLabel || ""));
      stateLine = el("div", "state");
      stateLine.setAttribute("role", "status");
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

    // Legend (bottom right): colour by land-use type or by category; the classes in view.
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

    function tileZoom() {
      return Math.min(Math.max(Math.round(map.getZoom()), minZoom), maxNativeZoom);
    }

    function parcelsInView() {
      if (!parcels || map.getZoom() < minZoom) return [];
      var z = tileZoom();
      var scale = Math.pow(2, map.getZoom() - z);
      var view = map.getPixelBounds();
      var bounds = L.bounds(view.min.divideBy(scale), view.max.divideBy(scale));
      return parcels.featuresIn(z, bounds);
    }

    function renderLegend(features) {
      var m = MODES[mode];
      var names = codes[m.code] || {};
      var classes = {};
      features.forEach(function (props) {
        var code = props[m.code] || "";
        classes[code] = code ? names[code] || "" : "未填写";
      });
      legendList.textContent = "";
      var list = Object.keys(classes).sort();
      if (!list.length) {
        legendList.appendChild(el("li", "empty", "当前视图内没有地块"));
        return;
      }
      list.forEach(function (code) {
        var item = el("li");
        item.setAttribute("data-code", code);
        var swatch = el("span", "swatch");
        swatch.style.background = m.colour(code);
        item.appendChild(swatch);
        item.appendChild(el("span", null, code ? (code + " " + classes[code]).trim() : classes[code]));
        legendList.appendChild(item);
      });
    }

    function refresh() {
      var z = map.getZoom();
      container.setAttribute("data-zoom", String(z));
      if (!parcels) return;
      if (z < minZoom) {
        container.setAttribute("data-count", "0");
        renderLegend([]);
        setState("zoom", "放大到 " + minZoom + " 级以上显示地块（当前 " + z + " 级）", "notice");
        return;
      }
      if (parcels.isLoading()) {
        setState("loading", "正在加载地块…");
        return;
      }
      var features = parcelsInView();
      if (!modeChosen && mode === "tdlylx" && features.length) {
        var anyLandUse = features.some(function (props) {
          return props.tdlylx;
        });
        if (!anyLandUse) {
          setMode("dklb");
          return;
        }
      }
      container.setAttribute("data-count", String(features.length));
      renderLegend(features);
      setState("loaded", features.length ? "当前视图共 " + features.length + " 个地块" : "当前视图内没有地块");
    }

    function style(props, zoom) {
      var m = MODES[mode];
      return {
        fill: true,
        fillColor: m.colour(props[m.code]),
        fillOpacity: FILL_OPACITY,
        color: "#5a4a2a",
        weight: zoom >= 17 ? 1 : 0.6,
        opacity: 0.9,
      };
    }

    function setMode(next) {
      mode = next;
      modeSelect.value = mode;
      // The tiles are drawn on canvas: draw them again in the new colours (the browser
      // revalidates them with their ETag; unchanged tiles come back as 304 without a body).
      if (parcels) parcels.redraw();
      refresh();
    }

    // --- identify ------------------------------------------------------------------------------

    var popup = L.popup({ maxWidth: 360, autoPanPadding: [20, 20] });
    map.on("popupclose", function (event) {
      if (event.popup === popup) highlight.clear();
    });

    map.on("click", function (event) {
      if (!parcels) return;
      if (map.getZoom() < minZoom) {
        setState("zoom", "请先放大到 " + minZoom + " 级以上，再单击地块", "notice");
        return;
      }
      var seq = ++identifySeq;
      var url = frame.getAttribute("data-identify-url");
      N.api("GET", url + "?lng=" + event.latlng.lng.toFixed(9) + "&lat=" + event.latlng.lat.toFixed(9)).then(
        function (result) {
          if (seq !== identifySeq) return;
          if (result.status === 404) {
            map.closePopup(popup);
            highlight.clear();
            return;
          }
          if (!result.ok) {
            setState("error", N.errorMessage(result), "error");
            return;
          }
          highlight.show(result.data.geometry);
          popup.setLatLng(event.latlng).setContent(popupContent(result.data.properties, muDecimals)).openOn(map);
          container.setAttribute("data-selected", result.data.properties.dkbm);
        }
      );
    });

    // --- layers ----------------------------------------------------------------------------------

    setState("loading", "正在加载地图图层…");
    Promise.all([getJSON(frame.getAttribute("data-parcels-tilejson")), getJSON(frame.getAttribute("data-regions-tilejson"))])
      .then(function (docs) {
        var parcelDoc = docs[0];
        var regionDoc = docs[1];
        minZoom = parcelDoc.minzoom;
        maxNativeZoom = parcelDoc.maxzoom;
        codes = parcelDoc.codes || codes;
        parcels = new ParcelTiles(sameOrigin(parcelDoc.tiles[0]), {
          rendererFactory: L.canvas.tile,
          vectorTileLayerStyles: { parcels: style },
          interactive: false,
          minZoom: minZoom,
          maxNativeZoom: maxNativeZoom,
          maxZoom: 22,
          fetchOptions: { credentials: "same-origin" },
        });
        parcels.on("loading", refresh);
        parcels.on("load", refresh);
        parcels.addTo(map);
        N.vectorLayer(
          { name: "regions", url: sameOrigin(regionDoc.tiles[0]), minZoom: regionDoc.minzoom },
          { maxNativeZoom: regionDoc.maxzoom, zIndex: 2 }
        ).addTo(map);
        map.on("moveend", refresh);
        refresh();
      })
      .catch(function () {
        setState("error", "地图图层加载失败，请稍后刷新重试", "error");
      });

    renderLegend([]);
    if (config.bounds) {
      map.fitBounds(config.bounds, { padding: [20, 20] });
    }
  }

  window.addEventListener("map:init", function (event) {
    if (event.detail && event.detail.id === MAP_ID) setup(event.detail.map);
  });
})();

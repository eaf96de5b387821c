/*
 * Shared pieces of the staff map pages (经办查询, 测绘编辑, 数据管理): configuration, DOM and
 * fetch helpers, the vector-tile and orthophoto layers, base maps, the layer switcher, and the
 * client-side area estimate. Exposed as window.Nongdi; each page script hangs off django-leaflet's
 * `map:init` event. Texts shown to people are Chinese; identifiers are English.
 */
(function () {
  "use strict";

  // VectorGrid 1.3.0's canvas tiles call L.DomEvent.fakeStop, which Leaflet 1.8 removed.
  if (window.L && L.DomEvent && !L.DomEvent.fakeStop) {
    L.DomEvent.fakeStop = function (event) {
      event._stopped = true;
    };
  }

  var N = (window.Nongdi = window.Nongdi || {});

  N.readConfig = function (id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  };

  N.el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  };

  N.formatNumber = function (value, decimals) {
    if (value === null || value === undefined || value === "") return "—";
    return Number(value).toLocaleString("zh-CN", {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
    });
  };

  N.url = function (template, code) {
    return template.replace("{code}", encodeURIComponent(code));
  };

  N.debounce = function (fn, ms) {
    var timer = null;
    var debounced = function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fn.apply(null, args);
      }, ms);
    };
    debounced.cancel = function () {
      clearTimeout(timer);
    };
    return debounced;
  };

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /*
   * JSON over fetch with the session cookie and CSRF token. Resolves to {ok, status, data};
   * data is the parsed body (our error format: {error: {code, message, details}}). A network
   * failure resolves to a synthetic error so callers always get a Chinese message.
   */
  N.api = function (method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrfToken();
      options.body = JSON.stringify(body);
    }
    return fetch(url, options)
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return { error: { code: "bad_response", message: "服务器返回了无法识别的内容（HTTP " + response.status + "）", details: {} } };
          })
          .then(function (data) {
            return { ok: response.ok, status: response.status, data: data };
          });
      })
      .catch(function () {
        return { ok: false, status: 0, data: { error: { code: "network", message: "网络连接失败，请检查网络后重试", details: {} } } };
      });
  };

  N.errorMessage = function (result) {
    var error = result && result.data && result.data.error;
    if (!error) return "操作失败（HTTP " + (result ? result.status : "?") + "）";
    var message = error.message || "操作失败";
    if (error.code === "invalid" && error.details) {
      var parts = [];
      Object.keys(error.details).forEach(function (key) {
        var value = error.details[key];
        if (Array.isArray(value)) parts.push(value.join("；"));
        else if (value && typeof value === "object") parts.push(JSON.stringify(value));
        else parts.push(String(value));
      });
      if (parts.length) message += "：" + parts.join("；");
    }
    return message;
  };

  // --- styles ---------------------------------------------------------------------------------

  // GB/T 21010 二级类 → fill colour (the home map's palette); unknown codes by 一级类.
  var LAND_USE = {
    "011": "#9fd4e8", "012": "#f5e27a", "013": "#f2c46d", "021": "#e7a3c8", "022": "#c79bd9",
    "023": "#e3b9e6", "031": "#5fae5f", "032": "#8cc97a", "033": "#a9d89b", "104": "#bdbdbd",
    "114": "#6fa8dc", "117": "#8fbfe6", "122": "#d9b38c", "123": "#cfc6a8",
  };
  var LAND_USE_GROUP = { "01": "#f5e27a", "02": "#e3b9e6", "03": "#8cc97a", "04": "#c6e58a", "10": "#bdbdbd", "11": "#8fbfe6", "12": "#d9d2c0" };
  var CATEGORY = { "10": "#f2d16b", "21": "#f29e4c", "22": "#a07cc5", "23": "#b5835a", "99": "#9e9e9e" };

  N.parcelColour = function (props) {
    var code = props.tdlylx;
    if (code) return LAND_USE[code] || LAND_USE_GROUP[String(code).slice(0, 2)] || "#e8a39a";
    return CATEGORY[props.dklb] || "#d0d0d0";
  };

  var REGION_STYLE = {
    county: { color: "#1f4e3d", weight: 3, dashArray: "8 4" },
    town: { color: "#2f6b52", weight: 2.5, dashArray: "6 4" },
    village: { color: "#4a7f66", weight: 2, dashArray: "4 3" },
    group: { color: "#6f9c84", weight: 1, dashArray: "2 3" },
  };

  N.tileStyles = {
    parcels: function (props, zoom) {
      return {
        fill: true,
        fillColor: N.parcelColour(props),
        fillOpacity: 0.45,
        color: "#5a4a2a",
        opacity: 0.9,
        weight: zoom >= 17 ? 1.2 : 0.7,
      };
    },
    regions: function (props) {
      var s = REGION_STYLE[props.level] || REGION_STYLE.group;
      return { fill: false, color: s.color, weight: s.weight, dashArray: s.dashArray, opacity: 0.9 };
    },
    farmland: function () {
      return { fill: true, fillColor: "#2e7d32", fillOpacity: 0.1, color: "#2e7d32", weight: 1.5, dashArray: "5 4" };
    },
    jzx: function () {
      return { color: "#c62828", weight: 1.2, opacity: 0.9 };
    },
    jzd: function () {
      return { radius: 2.5, fill: true, fillColor: "#c62828", fillOpacity: 1, color: "#fff", weight: 1 };
    },
    xzdw: function (props) {
      var canal = /渠|沟|河/.test(props.dwmc || "");
      return { color: canal ? "#3b82c4" : "#8d8d8d", weight: 2, opacity: 0.9 };
    },
    mzdw: function (props) {
      var water = /塘|水|河/.test(props.dwmc || "");
      return { fill: true, fillColor: water ? "#6fa8dc" : "#c9b79c", fillOpacity: 0.5, color: water ? "#3b82c4" : "#8c7a5b", weight: 1 };
    },
  };

  N.layerTitles = {
    parcels: "地块",
    regions: "行政区域",
    farmland: "基本农田保护区",
    jzx: "界址线",
    jzd: "界址点",
    xzdw: "线状地物（道路、沟渠）",
    mzdw: "面状地物（坑塘、居民点）",
  };

  // --- layers -----------------------------------------------------------------------------------

  /* A vector-tile layer drawn on canvas (thousands of parcels per tile stay smooth). Beyond
   * z18 the z18 tiles are scaled: their 4096 grid is 3 cm there. */
  N.vectorLayer = function (definition, options) {
    var styles = {};
    styles[definition.name] = N.tileStyles[definition.name] || {};
    return L.vectorGrid.protobuf(
      definition.url,
      L.extend(
        {
          rendererFactory: L.canvas.tile,
          vectorTileLayerStyles: styles,
          interactive: false,
          minZoom: definition.minZoom,
          maxNativeZoom: 18,
          maxZoom: 22,
          fetchOptions: { credentials: "same-origin" },
        },
        options || {}
      )
    );
  };

  N.rasterLayer = function (raster) {
    var b = raster.bounds;
    return L.tileLayer(raster.url, {
      maxZoom: 22,
      maxNativeZoom: 21,
      bounds: L.latLngBounds([b[1], b[0]], [b[3], b[2]]),
      attribution: raster.title,
      className: "raster-" + raster.name,
    });
  };

  N.baseLayers = function (cfg) {
    var layers = { "空白底图": L.layerGroup() };
    (cfg.basemaps || []).forEach(function (basemap) {
      var options = {
        maxZoom: 22,
        maxNativeZoom: basemap.maxNativeZoom,
        subdomains: basemap.subdomains || "abc",
        attribution: basemap.attribution,
      };
      var base = L.tileLayer(basemap.url, options);
      layers[basemap.name] = basemap.labels ? L.layerGroup([base, L.tileLayer(basemap.labels, options)]) : base;
    });
    return layers;
  };

  /*
   * The common map of a staff page: blank base (online base maps only when configured),
   * orthophotos, regions, basic farmland, features, parcels, boundary lines and points as
   * vector tiles, a layer switcher and a status line. `which` picks the overlays shown at
   * start. Returns {tiles: {name: layer}, rasters: [layer], control, status(text), refresh()}.
   */
  N.workspace = function (map, cfg, which) {
    which = which || {};
    var shown = which.shown || ["regions", "parcels", "xzdw", "mzdw", "jzx", "jzd"];
    if (map.attributionControl) map.attributionControl.setPrefix("Leaflet");
    var bases = N.baseLayers(cfg);
    bases["空白底图"].addTo(map);
    var overlays = {};
    var rasters = [];
    (cfg.rasters || []).forEach(function (raster) {
      var layer = N.rasterLayer(raster);
      rasters.push(layer);
      overlays["正射影像：" + raster.title] = layer;
      if (which.rasters !== false) layer.addTo(map);
    });
    var tiles = {};
    var order = ["farmland", "mzdw", "xzdw", "parcels", "regions", "jzx", "jzd"];
    var byName = {};
    (cfg.tileLayers || []).forEach(function (definition) {
      byName[definition.name] = definition;
    });
    order.forEach(function (name) {
      var definition = byName[name];
      if (!definition) return;
      var layer = N.vectorLayer(definition, which.options && which.options[name]);
      tiles[name] = layer;
      overlays[N.layerTitles[name] || definition.title] = layer;
      if (shown.indexOf(name) >= 0) layer.addTo(map);
    });
    if (cfg.outline && !tiles.regions) {
      L.geoJSON(cfg.outline, { interactive: false, style: { color: "#1f4e3d", weight: 2, dashArray: "6 4", fill: false } }).addTo(map);
    }
    var control = L.control.layers(bases, overlays, { collapsed: which.collapsed !== false, position: "topright" }).addTo(map);

    var status = L.control({ position: "bottomleft" });
    var statusLine;
    status.onAdd = function () {
      var box = N.el("div", "map-panel map-status");
      statusLine = N.el("div", "state");
      statusLine.setAttribute("role", "status");
      box.appendChild(N.el("div", "scope", cfg.scopeLabel || ""));
      box.appendChild(statusLine);
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    status.addTo(map);

    var parcelMin = byName.parcels ? byName.parcels.minZoom : 14;
    function zoomHint() {
      var z = map.getZoom();
      map.getContainer().setAttribute("data-zoom", String(z));
      if (z < parcelMin) {
        statusLine.textContent = "放大到 " + parcelMin + " 级以上显示地块（当前 " + z + " 级）";
        statusLine.className = "state notice";
      } else {
        statusLine.textContent = "当前 " + z + " 级";
        statusLine.className = "state";
      }
    }
    map.on("zoomend", zoomHint);
    if (cfg.bounds) map.fitBounds(cfg.bounds, { padding: [20, 20] });
    zoomHint();

    return {
      tiles: tiles,
      rasters: rasters,
      overlays: overlays,
      bases: bases,
      control: control,
      parcelMinZoom: parcelMin,
      status: function (text, className) {
        statusLine.textContent = text;
        statusLine.className = "state " + (className || "");
      },
      // Re-fetch the parcel tiles (after a save): the browser revalidates them with their
      // ETag, and only tiles whose parcels changed come back with a body.
      refresh: function () {
        ["parcels", "jzx", "jzd"].forEach(function (name) {
          if (tiles[name] && map.hasLayer(tiles[name])) tiles[name].redraw();
        });
      },
    };
  };

  /* A highlighted parcel outline above everything (not interactive). */
  N.highlighter = function (map) {
    if (!map.getPane("highlight")) {
      map.createPane("highlight");
      map.getPane("highlight").style.zIndex = 640;
      map.getPane("highlight").style.pointerEvents = "none";
    }
    var layer = L.geoJSON(null, {
      pane: "highlight",
      interactive: false,
      style: { color: "#d7191c", weight: 3, fill: true, fillOpacity: 0.08, fillColor: "#d7191c" },
    }).addTo(map);
    return {
      show: function (geometry) {
        layer.clearLayers();
        if (geometry) layer.addData(geometry);
      },
      clear: function () {
        layer.clearLayers();
      },
      bounds: function () {
        return layer.getLayers().length ? layer.getBounds() : null;
      },
    };
  };

  N.bboxToBounds = function (bbox) {
    return L.latLngBounds([bbox[1], bbox[0]], [bbox[3], bbox[2]]);
  };

  // --- area -------------------------------------------------------------------------------------

  var A = 6378137.0; // CGCS2000 / GRS80 semi-major axis (m)
  var E2 = 0.0066943800229; // GRS80 first eccentricity squared

  /*
   * Client-side estimate of a polygon's area in m², as the server measures it (in the
   * county's Gauss-Krüger zone): a local projection with the ellipsoid's radii of curvature
   * at the polygon's latitude, times the zone's areal scale factor k² at its longitude
   * (k ≈ 1 + Δλ²cos²φ(1+η²)/2, 0.04 % at 1.4° from the central meridian). Agrees with the
   * server to ~0.01 %; the server's figure is the one saved.
   */
  N.areaSqm = function (rings, centralMeridian) {
    if (!rings || !rings.length || rings[0].length < 3) return 0;
    var lat0 = 0;
    var lng0 = 0;
    rings[0].forEach(function (p) {
      lat0 += p.lat;
      lng0 += p.lng;
    });
    lat0 /= rings[0].length;
    lng0 /= rings[0].length;
    var phi = (lat0 * Math.PI) / 180;
    var s = Math.sin(phi);
    var w = Math.sqrt(1 - E2 * s * s);
    var nRadius = A / w;
    var mRadius = (A * (1 - E2)) / (w * w * w);
    var kx = ((nRadius * Math.cos(phi)) * Math.PI) / 180;
    var ky = (mRadius * Math.PI) / 180;
    function ringArea(ring) {
      var sum = 0;
      for (var i = 0; i < ring.length; i++) {
        var a = ring[i];
        var b = ring[(i + 1) % ring.length];
        sum += (a.lng - lng0) * kx * ((b.lat - lat0) * ky) - (b.lng - lng0) * kx * ((a.lat - lat0) * ky);
      }
      return Math.abs(sum) / 2;
    }
    var area = ringArea(rings[0]);
    for (var h = 1; h < rings.length; h++) area -= ringArea(rings[h]);
    var dl = (((lng0 - (centralMeridian || lng0)) * Math.PI) / 180) * Math.cos(phi);
    var eta2 = (E2 / (1 - E2)) * Math.cos(phi) * Math.cos(phi);
    var k = 1 + (dl * dl * (1 + eta2)) / 2;
    return area * k * k;
  };

  /* Leaflet polygon latlngs → list of rings (outer first), whatever the nesting. */
  N.ringsOf = function (layer) {
    var latlngs = layer.getLatLngs();
    while (latlngs.length && Array.isArray(latlngs[0]) && Array.isArray(latlngs[0][0])) latlngs = latlngs[0];
    return Array.isArray(latlngs[0]) ? latlngs : [latlngs];
  };
})();

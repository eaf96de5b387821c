"""Optional online base maps (天地图, OpenStreetMap). None is on by default and none is needed:
the maps draw the register's own vector tiles and orthophotos, so everything works offline.

Configured in settings (all optional)::

    NONGDI_MAP = {
        "TIANDITU_KEY": "…",   # 天地图 key (https://console.tianditu.gov.cn): adds 影像 and 矢量
        "OSM": True,           # adds OpenStreetMap (needs internet access from the browser)
    }

天地图's ``_w`` layers are Web Mercator tiles of CGCS2000 coordinates, so they line up with our
data to within centimetres (no GCJ-02 offset, unlike commercial Chinese maps).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)


def basemaps() -> list[dict[str, Any]]:
    """The base maps offered in the layer switcher: id, name, url template, subdomains,
    attribution, max native zoom, and the annotation overlay drawn above (天地图 注记)."""
    options: dict[str, Any] = getattr(settings, "NONGDI_MAP", {}) or {}
    out: list[dict[str, Any]] = []
    key = str(options.get("TIANDITU_KEY") or "")
    if key:
        for layer, label, name in (("img", "cia", "天地图影像"), ("vec", "cva", "天地图矢量")):
            out.append(
                {
                    "id": f"tianditu-{layer}",
                    "name": name,
                    "url": TIANDITU_URL.format(s="{s}", layer=layer, key=key),
                    "labels": TIANDITU_URL.format(s="{s}", layer=label, key=key),
                    "subdomains": "01234567",
                    "maxNativeZoom": 18,
                    "attribution": "© 天地图 国家地理信息公共服务平台",
                }
            )
    if options.get("OSM"):
        out.append(
            {
                "id": "osm",
                "name": "OpenStreetMap",
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "labels": None,
                "subdomains": "",
                "maxNativeZoom": 19,
                "attribution": "© OpenStreetMap contributors",
            }
        )
    return out

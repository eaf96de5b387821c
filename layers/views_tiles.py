"""Tile endpoints: vector tiles of the register's layers and raster tiles of orthophotos.

Plain Django views rather than DRF: a tile is bytes with cache headers, and a map asks for
dozens at once, so the per-request overhead matters (see ``bench/tiles_bench.py``). Errors
still use the API's format ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from layers.models import Raster
from layers.rasters import raster_tile
from layers.tiles import MVT_CONTENT_TYPE, Tile, build_tile, layers, save_tile, tile_scope, tilejson


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)


class _TileResponse(HttpResponse):
    """A tile that writes itself to the disk cache once sent: the WSGI server calls ``close``
    after the last byte (Django's test client too), so the client does not wait for the disk."""

    def __init__(self, tile: Tile) -> None:
        super().__init__(tile.data, content_type=MVT_CONTENT_TYPE)
        self._tile = tile

    def close(self) -> None:
        try:
            save_tile(self._tile)
        finally:
            super().close()


def _cache_control(*, private: bool, max_age: int) -> str:
    audience = "private" if private else "public"
    if max_age <= 0:
        return f"{audience}, no-cache"
    return f"{audience}, max-age={max_age}"


@require_GET
def vector_tile(request: HttpRequest, layer: str, z: int, x: int, y: int) -> HttpResponse:
    """``GET /tiles/<layer>/<z>/<x>/<y>.pbf`` — a Mapbox vector tile (MVT) of one layer.

    Who may call it: anyone, signed in or not. The tiles carry no personal data (see
    ``layers.tiles.layers``); users with a jurisdiction get the parcels, boundary points and
    lines of their jurisdiction, everyone else every current one.

    Headers: ``ETag`` (the fingerprint of the rows in the tile) and ``Cache-Control: no-cache``
    by default, so browsers revalidate and get a 304 while nothing in the tile changed, and
    see an edit at once (``TILE_MAX_AGE`` seconds trades that for fewer requests). An empty
    tile (no features, or a zoom below the layer's minimum) is a 200 with an empty body.

    Layers cut to a jurisdiction (parcels, boundary points and lines) depend on who asks:
    ``Vary: Cookie``, and ``private`` for signed-in users, so that no shared cache hands one
    user's tiles to another. The other layers are the same for everyone: ``public``, and the
    request's session and user are never looked up (no query but the tile's).
    """
    definition = layers().get(layer)
    if definition is None:
        return _error(404, "not_found", f"没有名为 {layer} 的图层")
    scoped = definition.scope_column is not None
    tile = build_tile(
        layer,
        z=z,
        x=x,
        y=y,
        scope=tile_scope(request.user, definition) if scoped else "",
        if_none_match=request.headers.get("If-None-Match"),
        save=False,
    )
    if tile is None:
        return _error(404, "not_found", f"瓦片 {z}/{x}/{y} 不存在")
    response = HttpResponseNotModified() if tile.not_modified else _TileResponse(tile)
    response["ETag"] = tile.etag
    response["Cache-Control"] = _cache_control(
        private=scoped and request.user.is_authenticated, max_age=int(getattr(settings, "TILE_MAX_AGE", 0))
    )
    if scoped:
        response["Vary"] = "Cookie"
    response["X-Tile-Cache"] = "hit" if tile.cached else "miss"
    return response


@require_GET
def tilejson_view(request: HttpRequest, layer: str) -> HttpResponse:
    """``GET /tiles/<layer>.json`` — the layer's TileJSON 3.0.0: tile URL template, minimum
    and maximum zoom, fields, and the names of its coded values (``codes``) for legends.

    Who may call it: anyone, like the tiles themselves; it holds no data of the register, only
    the layer's description and the standard's code tables. Other methods than GET: 405.

    Example: ``GET /tiles/parcels.json``
    """
    definition = layers().get(layer)
    if definition is None:
        return _error(404, "not_found", f"没有名为 {layer} 的图层")
    path = reverse("tiles:vector", args=[layer, 0, 0, 0]).replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
    # Not build_absolute_uri: it would percent-encode the braces of the template.
    url = f"{request.scheme}://{request.get_host()}{path}"
    response = JsonResponse(tilejson(definition, tiles_url=url), json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=600"
    return response


@require_GET
def raster_tile_view(request: HttpRequest, name: str, z: int, x: int, y: int, fmt: str) -> HttpResponse:
    """``GET /tiles/raster/<name>/<z>/<x>/<y>.png`` (or ``.webp``) — a 256 px Web Mercator
    tile of a registered orthophoto, transparent outside the image.

    Who may call it: signed-in users only. High-resolution imagery of farmland is not for the
    public map (China's rules on public release of imagery finer than 0.5 m), so anonymous
    callers get 403 ``not_authenticated``. Tiles are cached for an hour in the browser; the
    ETag changes when the file is replaced.
    """
    if not request.user.is_authenticated:
        return _error(403, "not_authenticated", "影像瓦片仅对登录用户开放")
    raster = Raster.objects.filter(name=name).first()
    if raster is None:
        return _error(404, "not_found", f"没有名为 {name} 的影像")
    tile = raster_tile(raster, z=z, x=x, y=y, fmt=fmt)
    if tile is None:
        return _error(404, "not_found", f"影像瓦片 {z}/{x}/{y}.{fmt} 不存在")
    if tile.etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(tile.data, content_type=tile.content_type)
    response["ETag"] = tile.etag
    response["Cache-Control"] = f"private, max-age={int(getattr(settings, 'RASTER_TILE_MAX_AGE', 3600))}"
    response["X-Tile-Cache"] = "hit" if tile.cached else "miss"
    return response

"""Tile URLs, included under ``/tiles/`` by ``gisapp.urls``."""

from django.urls import path, register_converter

from layers import views_tiles


class RasterFormat:
    regex = "png|webp"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RasterFormat, "rasterfmt")

app_name = "tiles"
urlpatterns = [
    path(
        "raster/<slug:name>/<int:z>/<int:x>/<int:y>.<rasterfmt:fmt>",
        views_tiles.raster_tile_view,
        name="raster",
    ),
    path("<slug:layer>/<int:z>/<int:x>/<int:y>.pbf", views_tiles.vector_tile, name="vector"),
    path("<slug:layer>.json", views_tiles.tilejson_view, name="tilejson"),
]

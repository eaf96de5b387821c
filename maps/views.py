"""The map pages. Thin: a selector says what the user may see, the template and
``static/maps/*.js`` draw it; parcels themselves come from ``/api/map/parcels``."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from parcels.selectors import map_overview


def home(request: HttpRequest) -> HttpResponse:
    """The home map: anyone may open it. It fits the user's region (the county for the
    public) and loads the parcels of the visible bbox from the map API."""
    overview = map_overview(user=request.user)
    bounds = None
    if overview.bounds is not None:
        west, south, east, north = overview.bounds
        bounds = [[south, west], [north, east]]  # Leaflet's order: [lat, lng]
    config = {
        "parcelsUrl": reverse("parcels:map-parcels"),
        "bounds": bounds,
        "outline": json.loads(overview.outline) if overview.outline else None,
        "scopeLabel": overview.scope_label,
        "muDecimals": settings.NONGDI["MU_DECIMALS"],
    }
    return render(request, "maps/home.html", {"map_config": config, "overview": overview})

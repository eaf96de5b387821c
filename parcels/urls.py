from django.urls import path

from parcels import apis

app_name = "parcels"
urlpatterns = [
    path("map/parcels", apis.ParcelMapApi.as_view(), name="map-parcels"),
    path("parcels/<str:code>", apis.ParcelDossierApi.as_view(), name="parcel-dossier"),
]

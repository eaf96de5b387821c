from django.urls import path

from parcels import apis

app_name = "parcels"
urlpatterns = [
    path("map/parcels", apis.ParcelMapApi.as_view(), name="map-parcels"),
    # Fixed words before ``parcels/<code>``: "at", "search" and "export" are not codes.
    path("parcels/at", apis.ParcelAtApi.as_view(), name="parcel-at"),
    path("parcels/search", apis.ParcelSearchApi.as_view(), name="parcel-search"),
    path("parcels/export", apis.ParcelExportApi.as_view(), name="parcel-export"),
    path("parcels/<str:code>", apis.ParcelDossierApi.as_view(), name="parcel-dossier"),
    path("parcels/<str:code>/history", apis.ParcelHistoryApi.as_view(), name="parcel-history"),
    path("parcels/<str:code>/feature", apis.ParcelFeatureApi.as_view(), name="parcel-feature"),
    path("editor/check", apis.EditorCheckApi.as_view(), name="editor-check"),
    path("editor/neighbours", apis.EditorNeighboursApi.as_view(), name="editor-neighbours"),
    path("editor/parcels", apis.EditorParcelCreateApi.as_view(), name="editor-create"),
    path("editor/parcels/<str:code>", apis.EditorParcelUpdateApi.as_view(), name="editor-update"),
    path("editor/parcels/<str:code>/split", apis.EditorParcelSplitApi.as_view(), name="editor-split"),
    path("editor/merge", apis.EditorParcelMergeApi.as_view(), name="editor-merge"),
]

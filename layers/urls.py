"""Quality inspection API, mounted by ``gisapp.urls`` under ``api/qc/``."""

from django.urls import path

from layers import apis

app_name = "qc"
urlpatterns = [
    path("rules/", apis.RuleListApi.as_view(), name="rules"),
    path("runs/", apis.InspectionListCreateApi.as_view(), name="runs"),
    path("runs/latest/", apis.InspectionLatestApi.as_view(), name="run-latest"),
    path("runs/<int:pk>/", apis.InspectionDetailApi.as_view(), name="run-detail"),
    path("runs/<int:pk>/geojson/", apis.InspectionGeoJsonApi.as_view(), name="run-geojson"),
    path("runs/<int:pk>/xlsx/", apis.InspectionXlsxApi.as_view(), name="run-xlsx"),
]

"""URLs of the package import page for data staff (``layers.views_import``)."""

from django.urls import path

from layers import views_import

app_name = "layers_import"

urlpatterns = [
    path("", views_import.import_upload, name="upload"),
    path("<int:pk>/", views_import.import_job, name="job"),
    path("<int:pk>/status.json", views_import.import_status, name="status"),
    path("<int:pk>/report.json", views_import.import_report_json, name="report_json"),
]

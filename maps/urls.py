from django.urls import path

from maps import views

app_name = "maps"
urlpatterns = [
    path("", views.home, name="home"),
    path("clerk/", views.clerk, name="clerk"),
    path("editor/", views.editor, name="editor"),
    path("data/", views.data_staff, name="data"),
    path("data/qc/", views.qc, name="qc"),
]

from django.urls import path

app_name = "parcels"
urlpatterns: list = []

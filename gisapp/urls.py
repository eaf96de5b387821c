from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from layers import views_exchange

admin.site.site_header = "农地承包经营权信息管理系统"
admin.site.site_title = "农地"
admin.site.index_title = "登记簿管理"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/qc/", include("layers.urls")),
    path("api/", include("parcels.urls")),
    path("exchange/export", views_exchange.package_export, name="exchange-export"),
    path("data/import/", include("layers.urls_import")),
    path("registration/", include("registration.urls")),
    path("tiles/", include("layers.urls_tiles")),
    path("", include("maps.urls")),
]

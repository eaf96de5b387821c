"""Registration business (登记业务): cases, their steps, documents and the electronic archive."""

from django.urls import path

from registration import apis, views

app_name = "registration"
urlpatterns = [
    path("", views.case_list, name="case-list"),
    path("cases/new", views.case_new, name="case-new"),
    path("cases/<str:number>", views.case_detail, name="case-detail"),
    path("cases/<str:number>/sign", views.case_sign, name="case-sign"),
    path("cases/<str:number>/attach", views.case_attach, name="case-attach"),
    path("cases/<str:number>/print", views.print_centre, name="print-centre"),
    path("cases/<str:number>/print/all.pdf", views.print_all, name="print-all"),
    path("cases/<str:number>/message.xml", views.case_message, name="case-message"),
    path("cases/<str:number>/do/<str:action>", views.case_action, name="case-action"),
    path("documents/<int:pk>", views.document_file, name="document"),
    path("documents/<int:pk>/verify", views.document_verify, name="document-verify"),
    path("archive", views.archive, name="archive"),
    path("verify/<str:token>", views.verify, name="verify"),
    path("api/cases", apis.CaseListApi.as_view(), name="api-cases"),
    path("api/cases/<str:number>", apis.CaseDetailApi.as_view(), name="api-case"),
    path("api/cases/<str:number>/<str:action>", apis.CaseActionApi.as_view(), name="api-case-action"),
    path("api/archive", apis.ArchiveSearchApi.as_view(), name="api-archive"),
    path("api/archive/<int:pk>/verify", apis.ArchiveVerifyApi.as_view(), name="api-archive-verify"),
]

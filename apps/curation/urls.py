from django.urls import path

from apps.curation import views

app_name = "curation"
urlpatterns = [
    path("", views.report, name="report"),
    path("policy/", views.policy, name="policy"),
    path("policy/preview/", views.policy_preview, name="policy_preview"),
    path("rescans/", views.rescan_start, name="rescan_start"),
    path("rescans/<uuid:job_id>/", views.rescan_detail, name="rescan_detail"),
    path("rescans/<uuid:job_id>/cancel/", views.rescan_cancel, name="rescan_cancel"),
]

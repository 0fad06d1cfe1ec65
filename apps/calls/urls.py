from django.urls import path

from apps.calls import views

app_name = "calls"
urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("calls/", views.call_list, name="list"),
    path("calls/<uuid:call_id>/", views.call_detail, name="detail"),
    path("calls/<uuid:call_id>/json/", views.call_raw, name="raw"),
    path("uploads/", views.uploads, name="uploads"),
    path("uploads/<uuid:job_id>/", views.upload_detail, name="upload_detail"),
    path("uploads/<uuid:job_id>/cancel/", views.upload_cancel, name="upload_cancel"),
]

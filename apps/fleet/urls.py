from django.urls import path

from apps.fleet import views

app_name = "fleet"
urlpatterns = [
    path("", views.worker_list, name="list"),
    path("<str:name>/drain/", views.worker_drain, name="drain"),
    path("<str:name>/resume/", views.worker_resume, name="resume"),
    path("<str:name>/concurrency/", views.worker_concurrency, name="concurrency"),
    path("<str:name>/cancel-job/", views.worker_job_cancel, name="cancel_job"),
]

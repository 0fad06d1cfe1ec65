from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from apps.projects.login import LoginView
from controlplane.api import api
from controlplane.metrics import metrics


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


handler400 = "controlplane.errors.bad_request"
handler404 = "controlplane.errors.page_not_found"
handler500 = "controlplane.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    # The gateway: OpenAI-compatible, at /v1/ like the API it stands in for (served by uvicorn, controlplane.asgi).
    path("v1/", include("apps.serving.gateway.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("apps.projects.urls")),
    path("p/<slug:slug>/", include("apps.monitoring.urls")),
    path("p/<slug:slug>/", include("apps.calls.urls")),
    path("p/<slug:slug>/curation/", include("apps.curation.urls")),
    path("p/<slug:slug>/tasks/", include("apps.discovery.urls")),
    path("p/<slug:slug>/tasks/<uuid:cluster_id>/evaluation/", include("apps.evaluation.urls")),
    path("p/<slug:slug>/tasks/<uuid:cluster_id>/deployment/", include("apps.serving.urls")),
    path("p/<slug:slug>/approvals/", include("apps.approvals.urls")),
    path("p/<slug:slug>/specialists/", include("apps.specialists.urls")),
    path("p/<slug:slug>/jobs/", include("apps.jobs.urls")),
    path("workers/", include("apps.fleet.urls")),
]

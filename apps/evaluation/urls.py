from django.urls import path

from apps.evaluation.views import report, scoring, start

app_name = "evaluation"
urlpatterns = [
    path("", report.report, name="report"),
    path("start/", start.evaluate, name="start"),
    path("scoring/", scoring.update, name="scoring"),
    path("<uuid:evaluation_id>/cancel/", start.cancel, name="cancel"),
]

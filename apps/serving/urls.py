from django.urls import path

from apps.serving import views

app_name = "serving"
urlpatterns = [
    path("", views.deployment, name="deployment"),
    path("start/", views.start, name="start"),
    path("<uuid:deployment_id>/change/", views.change, name="change"),
    path("<uuid:deployment_id>/stop/", views.stop, name="stop"),
    path("<uuid:deployment_id>/reenable/", views.reenable, name="reenable"),
    path("<uuid:deployment_id>/rollback/", views.rollback, name="rollback"),
    path("retrain/", views.retrain, name="retrain"),
    path("retrain/<uuid:proposal_id>/start/", views.retrain_start, name="retrain_start"),
    path("retrain/<uuid:proposal_id>/dismiss/", views.retrain_dismiss, name="retrain_dismiss"),
]

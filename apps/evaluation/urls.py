from django.urls import path

from apps.evaluation import views

app_name = "evaluation"
urlpatterns = [
    path("", views.report, name="report"),
]

from django.urls import path

from apps.approvals import views

app_name = "approvals"
urlpatterns = [
    path("", views.audit, name="audit"),
    path("decide/", views.decide, name="decide"),
]

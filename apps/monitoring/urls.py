from django.urls import path

from apps.monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("", views.home, name="home"),
    path("offload/", views.offload, name="offload"),
]

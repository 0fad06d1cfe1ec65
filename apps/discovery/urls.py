from django.urls import path

from apps.discovery import views

app_name = "discovery"
urlpatterns = [
    path("", views.task_list, name="tasks"),
    path("find/", views.run_start, name="run_start"),
    path("map/", views.cluster_map, name="map"),
    path("runs/", views.run_list, name="runs"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run"),
    path("runs/<uuid:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("<uuid:cluster_id>/", views.task_detail, name="task"),
    path("<uuid:cluster_id>/merge/", views.task_merge, name="task_merge"),
    path("<uuid:cluster_id>/split/", views.task_split, name="task_split"),
    path("<uuid:cluster_id>/keep/", views.task_keep, name="task_keep"),
]

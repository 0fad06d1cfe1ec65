from django.urls import path

from apps.projects import views

app_name = "projects"
urlpatterns = [
    path("", views.project_list, name="list"),
    path("projects/new/", views.project_create, name="create"),
    path("p/<slug:slug>/keys/", views.api_keys, name="keys"),
    path("p/<slug:slug>/keys/<uuid:key_id>/revoke/", views.api_key_revoke, name="key_revoke"),
    path("p/<slug:slug>/members/", views.members, name="members"),
    path("p/<slug:slug>/settings/", views.project_settings, name="settings"),
    path("p/<slug:slug>/members/<str:username>/role/", views.member_role, name="member_role"),
    path("p/<slug:slug>/members/<str:username>/remove/", views.member_remove, name="member_remove"),
    path("account/password/", views.password_change, name="password_change"),
]

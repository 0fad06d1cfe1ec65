from apps.specialists.views import selection, training

app_name = "specialists"
urlpatterns = [*selection.urlpatterns, *training.urlpatterns]

from django.urls import path

from . import views

app_name = "hls"

# Mounted at /hls/.
urlpatterns = [
    path("<slug:m>/<slug:room>/<path:path>", views.hls_file, name="file"),
]

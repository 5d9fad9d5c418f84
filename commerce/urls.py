from django.urls import path

from . import views

# Mounted at /s/
storefront_urlpatterns = [
    path("<slug:m>/", views.storefront_home, name="storefront"),
]

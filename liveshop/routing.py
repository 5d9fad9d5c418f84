"""WebSocket routes. Apps add theirs here: rooms, media signalling, consults."""

from django.urls import URLPattern, path, register_converter

from consults.consumers import ConsultConsumer
from consults.urls import PublicIdConverter

register_converter(PublicIdConverter, "pid")

websocket_urlpatterns: list[URLPattern] = [
    path("ws/consults/<slug:m>/<pid:consult>/", ConsultConsumer.as_asgi()),
]

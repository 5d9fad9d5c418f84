"""WebSocket routes. Apps add theirs here: rooms, media signalling, consults."""

from django.urls import URLPattern, path

import consults.urls  # noqa: F401 - registers the `pid` path converter
from consults.consumers import ConsultConsumer
from media.consumers import RoomMediaConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/media/<slug:m>/<slug:room>/", RoomMediaConsumer.as_asgi()),
    path("ws/consults/<slug:m>/<pid:consult>/", ConsultConsumer.as_asgi()),
]

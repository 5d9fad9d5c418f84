"""WebSocket routes. Apps add theirs here: rooms, media signalling, consults."""

from django.urls import URLPattern, path

from media.consumers import RoomMediaConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/media/<slug:m>/<slug:room>/", RoomMediaConsumer.as_asgi()),
]

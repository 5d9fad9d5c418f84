"""WebSocket routes. Apps add theirs here: rooms, media signalling, consults."""

from django.conf import settings
from django.urls import URLPattern, path

import consults.urls  # noqa: F401 - registers the `pid` path converter
from consults.consumers import ConsultConsumer
from media.consumers import RoomMediaConsumer
from rooms.consumers import RoomConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/rooms/<slug:m>/<slug:room>/", RoomConsumer.as_asgi()),
    path("ws/media/<slug:m>/<slug:room>/", RoomMediaConsumer.as_asgi()),
    path("ws/consults/<slug:m>/<pid:consult>/", ConsultConsumer.as_asgi()),
]

if settings.LIVESHOP_ROOM_BASELINE:
    # Bench only (bench/room_fanout.py): the tutorial-style group_send room as a baseline.
    from bench.room_baseline import BaselineRoomConsumer

    websocket_urlpatterns.append(
        path("ws/baseline/<slug:m>/<slug:room>/", BaselineRoomConsumer.as_asgi())
    )

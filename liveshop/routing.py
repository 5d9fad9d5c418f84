"""WebSocket routes. Apps add theirs here: rooms, media signalling, consults."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []

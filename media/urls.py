from django.urls import path

from . import api, whip

# Mounted at /api/v1/.
api_urlpatterns = [
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/stream-key",
        api.StreamKeyView.as_view(),
        name="api-room-stream-key",
    ),
]

# Mounted at the root: WHIP ingest (RFC 9725), authorised by the room's stream key.
platform_urlpatterns = [
    path("whip/<slug:m>/<slug:room>", whip.whip_endpoint, name="whip"),
    path("whip/<slug:m>/<slug:room>/<str:resource>", whip.whip_resource, name="whip-resource"),
]

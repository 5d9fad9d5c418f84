"""Stream keys of a room, for WHIP encoders (OBS): `/api/v1/merchants/<m>/rooms/<slug>/stream-key`.

GET shows the live key's prefix and the WHIP URL (never the key); POST makes a new key and
returns it once (any older key stops working); DELETE revokes the key and ends the stream
it started."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from liveshop.api.views import MerchantAPIView
from liveshop.tenancy.permissions import Perm
from rooms import selectors as room_selectors
from rooms.models import Room

from . import services
from .models import StreamKey


class StreamKeyOut(serializers.Serializer):
    whip_url = serializers.CharField(help_text="POST the encoder's offer here (WHIP)")
    prefix = serializers.CharField(allow_null=True, help_text="The live key's first characters")
    created_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class StreamKeyCreatedOut(StreamKeyOut):
    key = serializers.CharField(help_text="The Bearer token for the encoder. Shown only once.")


def _out(request: Request, room: Room, key: StreamKey | None) -> dict[str, object]:
    return {
        "whip_url": request.build_absolute_uri(f"/whip/{room.merchant.slug}/{room.slug}"),
        "prefix": key.prefix if key else None,
        "created_at": key.created_at if key else None,
        "last_used_at": key.last_used_at if key else None,
    }


class StreamKeyView(MerchantAPIView):
    required_perms = {"GET": Perm.HOST_ROOMS, "POST": Perm.HOST_ROOMS, "DELETE": Perm.HOST_ROOMS}
    serializer_class = StreamKeyOut

    def _room(self, slug: str) -> Room:
        return room_selectors.room_get(merchant=self.merchant, slug=slug)

    @extend_schema(responses={200: StreamKeyOut})
    def get(self, request: Request, m: str, slug: str) -> Response:
        room = self._room(slug)
        key = services.stream_key_live(merchant=self.merchant, room=room)
        return Response(StreamKeyOut(_out(request, room, key)).data)

    @extend_schema(request=None, responses={201: StreamKeyCreatedOut})
    def post(self, request: Request, m: str, slug: str) -> Response:
        room = self._room(slug)
        key, raw = services.stream_key_create(actor=self.actor, room=room)
        data = {**_out(request, room, key), "key": raw}
        return Response(StreamKeyCreatedOut(data).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, m: str, slug: str) -> Response:
        services.stream_key_revoke(actor=self.actor, room=self._room(slug))
        return Response(status=status.HTTP_204_NO_CONTENT)

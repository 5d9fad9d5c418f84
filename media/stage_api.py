"""HTTP API of the stage (co-hosts) and PK (media/stage.py, media/pk.py).

Host side (`/api/v1/merchants/<m>/rooms/<slug>/…`, staff who may host rooms; outsiders 404):
- `GET  stage` → `{members, invited, max, me}`
- `POST stage/invites {user: <id>}` → 201 `{id, user, status}`
- `DELETE stage/<user id>` → 204 (revoke a guest or withdraw an invite; the relay stops them)
- `GET  pk` → the room's current/last PK (public view + this side's own breakdown)
- `POST pk {merchant: <slug>, room: <slug>, duration_s: 180-600}` → 201 (invite another room)
- `POST pk/<id>/accept`, `pk/<id>/decline`, `pk/<id>/end` → the PK
- `GET  pk/<id>/breakdown` → this side's contributing orders and gifts (auditable)

Guest / viewer side (`/api/v1/s/<m>/rooms/<room>/…`):
- `GET  stage` (public; `me` is the caller's own invite or place, null when anonymous)
- `POST stage/accept`, `POST stage/leave` (signed in: the invited user)
- `GET  pk` (public: names, titles, scores, countdown, winner)
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from liveshop.api.views import MerchantAPIView, StorefrontAPIView
from liveshop.errors import DomainError
from liveshop.tenancy.permissions import Perm
from rooms import selectors as room_selectors
from rooms.models import Room, RoomStatus

from . import pk, stage


class StageInviteIn(serializers.Serializer):
    user = serializers.IntegerField(min_value=1, max_value=2**53)


class PKInviteIn(serializers.Serializer):
    merchant = serializers.SlugField(max_length=40)
    room = serializers.SlugField(max_length=40)
    duration_s = serializers.IntegerField(min_value=pk.MIN_DURATION, max_value=pk.MAX_DURATION)


def _body(request: Request, serializer: type[serializers.Serializer]) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise DomainError(_("Send a JSON object."), code="invalid")
    parsed = serializer(data=request.data)
    parsed.is_valid(raise_exception=True)
    return dict(parsed.validated_data)


class _HostRoomView(MerchantAPIView):
    required_perms = {
        "GET": Perm.HOST_ROOMS,
        "POST": Perm.HOST_ROOMS,
        "DELETE": Perm.HOST_ROOMS,
    }

    def _room(self, slug: str) -> Room:
        return room_selectors.room_get(merchant=self.merchant, slug=slug)


class HostStageView(_HostRoomView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request, m: str, slug: str) -> Response:
        return Response(stage.stage_state(room=self._room(slug), user=request.user))


class HostStageInviteView(_HostRoomView):
    @extend_schema(request=StageInviteIn, responses={201: dict})
    def post(self, request: Request, m: str, slug: str) -> Response:
        room = self._room(slug)  # an unknown or foreign room is a 404 before the body is read
        data = _body(request, StageInviteIn)
        grant = stage.stage_invite(actor=self.actor, room=room, user_id=data["user"])
        out = {
            "id": grant.pk,
            "user": {"id": grant.user_id, "name": grant.user.display_name},
            "status": "on_stage" if grant.accepted_at else "invited",
        }
        return Response(out, status=status.HTTP_201_CREATED)


class HostStageMemberView(_HostRoomView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, m: str, slug: str, user: int) -> Response:
        stage.stage_revoke(actor=self.actor, room=self._room(slug), user_id=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _StorefrontRoomView(StorefrontAPIView):
    def _room(self, slug: str) -> Room:
        room = room_selectors.room_get(merchant=self.merchant, slug=slug)
        if room.status not in (RoomStatus.LIVE, RoomStatus.SCHEDULED, RoomStatus.ENDED):
            raise Http404
        return room


class StorefrontStageView(_StorefrontRoomView):
    @extend_schema(responses={200: dict}, auth=[])
    def get(self, request: Request, m: str, room: str) -> Response:
        state = stage.stage_state(room=self._room(room), user=request.user)
        state["invited"] = []  # who was invited is the host's business
        return Response(state)


class StorefrontStageAcceptView(_StorefrontRoomView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request, m: str, room: str) -> Response:
        found = self._room(room)
        stage.stage_accept(user=request.user, room=found)
        return Response(stage.stage_state(room=found, user=request.user))


class StorefrontStageLeaveView(_StorefrontRoomView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request, m: str, room: str) -> Response:
        found = self._room(room)
        stage.stage_leave(user=request.user, room=found)
        return Response(stage.stage_state(room=found, user=request.user))


# --- PK ---------------------------------------------------------------------------------------


def _pk_out(battle: Any, room: Room | None = None, *, refresh: bool = False) -> dict[str, Any]:
    """The PK as its room shows it. Hosts' reads bring the scores up to date; viewers' reads
    (many, every 2 s) show what `pk_tick` stored, so a crowd costs no score queries."""
    if battle is None:
        return {"pk": None, "side": None}
    if refresh:
        battle = pk.pk_refresh(battle)
    side = None
    if room is not None:
        side = "a" if battle.room_a_id == room.pk else "b"
    return {"pk": pk.pk_public(battle), "side": side}


class HostPKView(_HostRoomView):
    @extend_schema(responses={200: dict})
    def get(self, request: Request, m: str, slug: str) -> Response:
        room = self._room(slug)
        return Response(_pk_out(pk.pk_for_room(room=room), room, refresh=True))

    @extend_schema(request=PKInviteIn, responses={201: dict})
    def post(self, request: Request, m: str, slug: str) -> Response:
        room = self._room(slug)  # an unknown or foreign room is a 404 before the body is read
        data = _body(request, PKInviteIn)
        battle = pk.pk_invite(
            actor=self.actor,
            room=room,
            merchant_slug=data["merchant"],
            room_slug=data["room"],
            duration_s=data["duration_s"],
        )
        return Response(_pk_out(battle, room), status=status.HTTP_201_CREATED)


class HostPKActionView(MerchantAPIView):
    required_perms = {"POST": Perm.HOST_ROOMS}
    ACTIONS = {"accept": pk.pk_accept, "decline": pk.pk_decline, "end": pk.pk_end}

    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request, m: str, pk_id: int, action: str) -> Response:
        handler = self.ACTIONS.get(action)
        if handler is None:
            raise Http404
        battle = handler(actor=self.actor, pk_id=pk_id)
        return Response({"pk": pk.pk_public(battle)})


class HostPKBreakdownView(MerchantAPIView):
    required_perms = {"GET": Perm.HOST_ROOMS}

    @extend_schema(responses={200: dict})
    def get(self, request: Request, m: str, pk_id: int) -> Response:
        battle = pk.pk_get(merchant=self.merchant, pk_id=pk_id)
        return Response(pk.pk_breakdown(merchant=self.merchant, battle=battle))


class StorefrontPKView(_StorefrontRoomView):
    @extend_schema(responses={200: dict}, auth=[])
    def get(self, request: Request, m: str, room: str) -> Response:
        found = self._room(room)
        return Response(_pk_out(pk.pk_for_room(room=found), found))

"""Assistant API.

Merchant side `/api/v1/merchants/<m>/…`: the assistant's settings per room, the FAQ, the
questions of a room (the host console's "unanswered" list) with the host's one-click answer
and dismiss, the virtual host of a room, and the hand-offs waiting for a consult.
Shopper side `/api/v1/s/<m>/…`: recommendations, a room's replay state, the shopper's own
hand-off (what a consult request started from it carries)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response

from commerce.api.serializers import ProductOut
from commerce.models import Product
from liveshop.api.views import MerchantAPIView, StorefrontAPIView
from liveshop.tenancy.permissions import Perm
from rooms import selectors as room_selectors
from rooms.models import Room

from .. import recommend, selectors, services, virtual_host
from ..models import FaqEntry, Handoff, Question, QuestionStatus
from .serializers import (
    FaqIn,
    FaqOut,
    HandoffOut,
    QuestionOut,
    ReplayOut,
    ReplyIn,
    RoomAssistantIn,
    RoomAssistantOut,
    ShowIn,
    ShowOut,
)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, Mapping):
        raise exceptions.ValidationError({"non_field_errors": ["Send a JSON object."]})
    return dict(request.data)


def _settings_out(merchant: Any, room: Room) -> dict[str, Any]:
    config = selectors.room_settings(merchant=merchant, room=room)
    return {
        "enabled": config.enabled,
        "mentions_only": config.mentions_only,
        "display_name": config.name,
        "show_stock_counts": config.show_stock_counts,
    }


class RoomAssistantView(MerchantAPIView):
    """The assistant in one room: on/off, mentions only, its display name."""

    required_perms = {"GET": Perm.MANAGE_ASSISTANT, "PATCH": Perm.MANAGE_ASSISTANT}
    serializer_class = RoomAssistantOut

    def get(self, request: Request, m: str, slug: str) -> Response:
        room = room_selectors.room_get(merchant=self.merchant, slug=slug)
        return Response(_settings_out(self.merchant, room))

    @extend_schema(request=RoomAssistantIn, responses={200: RoomAssistantOut})
    def patch(self, request: Request, m: str, slug: str) -> Response:
        room = room_selectors.room_get(merchant=self.merchant, slug=slug)
        services.room_assistant_update(actor=self.actor, room=room, data=_body(request))
        return Response(_settings_out(self.merchant, room))


class FaqListView(MerchantAPIView):
    """The merchant's FAQ and policies: what the assistant answers shipping, returns,
    payment and other questions from."""

    required_perms = {"GET": Perm.MANAGE_ASSISTANT, "POST": Perm.MANAGE_ASSISTANT}
    serializer_class = FaqOut
    queryset = FaqEntry.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=FaqOut(many=True))
    def get(self, request: Request, m: str) -> Response:
        page = self.paginate_queryset(selectors.faq_list(merchant=self.merchant))
        return self.get_paginated_response(FaqOut(page, many=True).data)

    @extend_schema(request=FaqIn, responses={201: FaqOut})
    def post(self, request: Request, m: str) -> Response:
        entry = services.faq_create(actor=self.actor, data=_body(request))
        return Response(FaqOut(entry).data, status=status.HTTP_201_CREATED)


class FaqDetailView(MerchantAPIView):
    required_perms = {
        "GET": Perm.MANAGE_ASSISTANT,
        "PATCH": Perm.MANAGE_ASSISTANT,
        "DELETE": Perm.MANAGE_ASSISTANT,
    }
    serializer_class = FaqOut

    def get(self, request: Request, m: str, faq_id: int) -> Response:
        return Response(FaqOut(selectors.faq_get(merchant=self.merchant, faq_id=faq_id)).data)

    @extend_schema(request=FaqIn(partial=True), responses={200: FaqOut})
    def patch(self, request: Request, m: str, faq_id: int) -> Response:
        entry = selectors.faq_get(merchant=self.merchant, faq_id=faq_id)
        entry = services.faq_update(actor=self.actor, entry=entry, data=_body(request))
        return Response(FaqOut(entry).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, faq_id: int) -> Response:
        entry = selectors.faq_get(merchant=self.merchant, faq_id=faq_id)
        services.faq_delete(actor=self.actor, entry=entry)
        return Response(status=status.HTTP_204_NO_CONTENT)


class QuestionListView(MerchantAPIView):
    """Questions the assistant took in a room, newest first. `?status=unanswered` is the
    host console's list of questions left for a human."""

    required_perms = {"GET": Perm.HOST_ROOMS}
    serializer_class = QuestionOut
    queryset = Question.objects.none()  # for the OpenAPI schema

    @extend_schema(
        responses=QuestionOut(many=True),
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=QuestionStatus.values),
        ],
    )
    def get(self, request: Request, m: str, slug: str) -> Response:
        room = room_selectors.room_get(merchant=self.merchant, slug=slug)
        wanted = str(request.query_params.get("status", ""))
        if wanted and wanted not in QuestionStatus.values:
            raise ValidationError({"status": [f"One of {', '.join(QuestionStatus.values)}."]})
        questions = selectors.question_list(
            merchant=self.merchant, room=room, status=wanted
        ).select_related("handoff")
        page = self.paginate_queryset(questions)
        return self.get_paginated_response(QuestionOut(page, many=True).data)


class QuestionAnswerView(MerchantAPIView):
    """The host answers a question with one click: published to the room as a pinned
    `assistant.answer` (`by: host`) with the chosen products as buyable cards."""

    required_perms = {"POST": Perm.HOST_ROOMS}
    serializer_class = QuestionOut

    @extend_schema(request=ReplyIn, responses={200: QuestionOut})
    def post(self, request: Request, m: str, slug: str, question_id: int) -> Response:
        room = room_selectors.room_get(merchant=self.merchant, slug=slug)
        question = selectors.question_get(
            merchant=self.merchant, room=room, question_id=question_id
        )
        data = _body(request)
        unknown = set(data) - {"text", "products"}
        if unknown:
            raise ValidationError({k: ["Unknown field."] for k in sorted(unknown)})
        question = services.question_reply(
            actor=self.actor,
            question=question,
            text=data.get("text"),
            product_ids=data.get("products") or [],
        )
        return Response(QuestionOut(question).data)


class QuestionDismissView(MerchantAPIView):
    """Take a question off the unanswered list without answering it."""

    required_perms = {"POST": Perm.HOST_ROOMS}
    serializer_class = QuestionOut

    @extend_schema(request=None, responses={200: QuestionOut})
    def post(self, request: Request, m: str, slug: str, question_id: int) -> Response:
        room = room_selectors.room_get(merchant=self.merchant, slug=slug)
        question = selectors.question_get(
            merchant=self.merchant, room=room, question_id=question_id
        )
        return Response(
            QuestionOut(services.question_dismiss(actor=self.actor, question=question)).data
        )


class VirtualHostView(MerchantAPIView):
    """The room's virtual host: a looping replay (product slideshow, or a recording) whose
    timeline pins products while the assistant answers chat. PUT creates or changes it
    (`entries` replaces the timeline); DELETE removes it."""

    required_perms = {
        "GET": Perm.MANAGE_ASSISTANT,
        "PUT": Perm.MANAGE_ASSISTANT,
        "DELETE": Perm.MANAGE_ASSISTANT,
    }
    serializer_class = ShowOut

    def _show(self, room: Room) -> Any:
        show = selectors.show_get(merchant=self.merchant, room=room)
        if show is None:
            raise Http404("This room has no virtual host.")
        return show

    def get(self, request: Request, m: str, slug: str) -> Response:
        room = room_selectors.room_get(merchant=self.merchant, slug=slug)
        return Response(ShowOut(self._show(room)).data)

    @extend_schema(request=ShowIn, responses={200: ShowOut})
    def put(self, request: Request, m: str, slug: str) -> Response:
        room = room_selectors.room_get(merchant=self.merchant, slug=slug)
        data = _body(request)
        entries = data.pop("entries", None)
        parsed = ShowIn(data=data, partial=True)
        parsed.is_valid(raise_exception=True)
        values = {k: v for k, v in parsed.validated_data.items() if k in data}
        show = virtual_host.show_save(actor=self.actor, room=room, data=values)
        if entries is not None:
            virtual_host.show_entries_set(actor=self.actor, show=show, entries=entries)
        return Response(ShowOut(show).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, slug: str) -> Response:
        room = room_selectors.room_get(merchant=self.merchant, slug=slug)
        virtual_host.show_delete(actor=self.actor, show=self._show(room))
        return Response(status=status.HTTP_204_NO_CONTENT)


class HandoffListView(MerchantAPIView):
    """Questions the assistant handed to a human, with the room context a consult needs."""

    required_perms = {"GET": Perm.TAKE_CONSULTS}
    serializer_class = HandoffOut
    queryset = Handoff.objects.none()  # for the OpenAPI schema

    @extend_schema(
        responses=HandoffOut(many=True),
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=["open", "consult", "closed", "all"])
        ],
    )
    def get(self, request: Request, m: str) -> Response:
        wanted = str(request.query_params.get("status", "open"))
        if wanted not in ("open", "consult", "closed", "all"):
            raise ValidationError({"status": ["One of open, consult, closed, all."]})
        handoffs = selectors.handoff_list(
            merchant=self.merchant, status="" if wanted == "all" else wanted
        )
        page = self.paginate_queryset(handoffs)
        return self.get_paginated_response(HandoffOut(page, many=True).data)


class HandoffCloseView(MerchantAPIView):
    required_perms = {"POST": Perm.TAKE_CONSULTS}
    serializer_class = HandoffOut

    @extend_schema(request=None, responses={200: HandoffOut})
    def post(self, request: Request, m: str, handoff_id: int) -> Response:
        handoff = (
            selectors.handoff_list(merchant=self.merchant, status="").filter(pk=handoff_id).first()
        )
        if handoff is None:
            raise Http404("No such hand-off.")
        return Response(HandoffOut(services.handoff_close(actor=self.actor, handoff=handoff)).data)


# --- shopper side ----------------------------------------------------------------------------

RECOMMENDATION_PARAMS = [
    OpenApiParameter(
        "products", OpenApiTypes.STR, description="Seed product ids, comma-separated (≤20)"
    ),
    OpenApiParameter("room", OpenApiTypes.STR, description="A room's slug: its line-up counts"),
    OpenApiParameter("limit", OpenApiTypes.INT, description="1–24, default 6"),
]


def _ids(raw: str, field: str) -> list[int]:
    ids: list[int] = []
    for part in filter(None, (p.strip() for p in raw.split(",")[:21])):
        if not part.isdigit() or len(part) > 18 or int(part) <= 0:
            raise ValidationError({field: ["Give product ids, comma-separated."]})
        ids.append(int(part))
    if len(ids) > recommend.MAX_SEEDS:
        raise ValidationError({field: [f"At most {recommend.MAX_SEEDS} products."]})
    return ids


class RecommendationsView(StorefrontAPIView):
    """ "You may also like": in-stock products bought and watched together with the given
    products (or shown in the same room), best first."""

    serializer_class = ProductOut
    queryset = Product.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=ProductOut(many=True), parameters=RECOMMENDATION_PARAMS)
    def get(self, request: Request, m: str) -> Response:
        seeds = _ids(str(request.query_params.get("products", ""))[:400], "products")
        slug = str(request.query_params.get("room", ""))[:40]
        room = room_selectors.room_get(merchant=self.merchant, slug=slug) if slug else None
        raw_limit = str(request.query_params.get("limit", "6"))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= recommend.MAX_LIMIT:
            raise ValidationError({"limit": [f"From 1 to {recommend.MAX_LIMIT}."]})
        products = recommend.recommend(
            merchant=self.merchant, seeds=seeds, room=room, limit=int(raw_limit)
        )
        # A ranked list, at most MAX_LIMIT long: one page in the contract's list shape.
        page: Any = self.paginate_queryset(products)  # type: ignore[arg-type]
        return self.get_paginated_response(
            ProductOut(page, many=True, context={"merchant": self.merchant}).data
        )


class ReplayStateView(StorefrontAPIView):
    """A virtual-host room's replay: the timeline, the current step and when it moves on."""

    serializer_class = ReplayOut

    @extend_schema(
        responses={200: ReplayOut},
        parameters=[OpenApiParameter("lang", OpenApiTypes.STR, enum=["en", "zh"])],
    )
    def get(self, request: Request, m: str, room: str) -> Response:
        room_obj = room_selectors.room_get(merchant=self.merchant, slug=room)
        show = selectors.show_get(merchant=self.merchant, room=room_obj)
        if show is None or not show.is_active:
            raise Http404("This room has no replay.")
        lang = "zh" if request.query_params.get("lang") == "zh" else "en"
        return Response(virtual_host.show_state(show=show, lang=lang))


class ShopperHandoffView(StorefrontAPIView):
    """The signed-in shopper's own hand-off: the question and room context to start a 1v1
    consult with. Anyone else's is 404."""

    permission_classes = [permissions.IsAuthenticated]
    serializer_class = HandoffOut

    def get(self, request: Request, m: str, handoff_id: int) -> Response:
        handoff = selectors.shopper_handoff_get(
            merchant=self.merchant, shopper=request.user, handoff_id=handoff_id
        )
        return Response(HandoffOut(handoff).data)

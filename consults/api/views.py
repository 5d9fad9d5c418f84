"""Consult API: the shopper side (`/api/v1/s/<m>/consults…`: ask, wait, join, cancel, end,
rate, book) and the merchant side (`/api/v1/merchants/<m>/consults…`: the agents' console,
presence, accepting, the call's products and cart, ending with notes, analytics,
availability, recordings).

Consults and bookings are addressed by their unguessable public ids. Join tokens for the
consult socket come from `…/consults/<id>/join` (one per connection, ≤ 2 minutes).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from commerce.api.serializers import OrderOut
from commerce.api.views import ShopperAPIView, _body, _query
from liveshop.api.views import MerchantAPIView, StorefrontAPIView
from liveshop.tenancy.permissions import Perm

from .. import selectors, services
from ..models import (
    AgentProfile,
    AvailabilityWindow,
    Booking,
    Consult,
    ConsultRecording,
    ConsultStatus,
)
from .serializers import (
    AcceptedOut,
    AcceptIn,
    AnalyticsOut,
    BookingIn,
    BookingOut,
    CartIn,
    CartSendIn,
    ConsentStateOut,
    ConsoleOut,
    ConsultDetailOut,
    ConsultIn,
    ConsultOut,
    EndIn,
    JoinOut,
    NotesIn,
    OptionsOut,
    PresenceIn,
    PresenceOut,
    PushedOut,
    PushIn,
    QueueItemOut,
    RatingIn,
    RecordingOut,
    RequestedOut,
    SlotOut,
    StaffBookingOut,
    StaffConsultDetailOut,
    StaffConsultOut,
    WindowIn,
    WindowOut,
    join_out,
)

ERRORS = (
    "Errors: 409 `no_agent_online` (book a slot instead; `booking` says whether slots exist), "
    "409 `consult_open` (names the open `consult`), 400 with `fields` for bad input "
    "(e.g. unknown product), 429 `throttled`."
)


def _call_url(slug: str, consult: Consult) -> str:
    return reverse("storefront:consult_call", kwargs={"m": slug, "consult": consult.public_id})


# --- shopper side --------------------------------------------------------------------------


class StorefrontConsultOptionsView(StorefrontAPIView):
    """What the "ask an expert" button needs: is anyone online, topics, languages."""

    serializer_class = OptionsOut

    @extend_schema(auth=[], responses=OptionsOut)
    def get(self, request: Request, m: str) -> Response:
        data = selectors.storefront_options(merchant=self.merchant)
        user = request.user
        signed_in = bool(getattr(user, "is_authenticated", False)) and getattr(user, "pk", None)
        open_consult = (
            selectors.open_consult_of(merchant=self.merchant, shopper=user) if signed_in else None
        )
        return Response(
            {
                **data,
                "signed_in": bool(signed_in),
                "open_consult": open_consult.public_id if open_consult else None,
            }
        )


class StorefrontSlotsView(StorefrontAPIView):
    """Free slots to book a video consult, earliest first (agents' published availability)."""

    serializer_class = SlotOut
    queryset = AvailabilityWindow.objects.none()  # for the OpenAPI schema

    @extend_schema(
        auth=[],
        responses=SlotOut(many=True),
        parameters=[
            OpenApiParameter("language", OpenApiTypes.STR),
            OpenApiParameter("agent", OpenApiTypes.INT),
            OpenApiParameter("days", OpenApiTypes.INT, description="1–30, default 7"),
        ],
    )
    def get(self, request: Request, m: str) -> Response:
        language = _query(request, "language", 10).lower()
        if language:
            language = services.language_clean(language, self.merchant)
        agent = _query(request, "agent", 20)
        agent_id = services._positive_int(agent) if agent else None
        if agent and agent_id is None:
            raise ValidationError({"agent": [gettext("Give an agent id.")]})
        days_raw = _query(request, "days", 3) or "7"
        if not days_raw.isdigit() or not 1 <= int(days_raw) <= 30:
            raise ValidationError({"days": [gettext("A whole number from 1 to 30.")]})
        slots = selectors.booking_slots(
            merchant=self.merchant, language=language, agent_id=agent_id, days=int(days_raw)
        )
        page: Any = self.paginate_queryset(slots)  # type: ignore[arg-type]  # a list pages too
        return self.get_paginated_response(SlotOut(page, many=True).data)


class ShopperConsultListView(ShopperAPIView):
    """Your consults here. POST asks for one: you join the queue and follow your position
    on the consult socket with the returned join token."""

    serializer_class = ConsultOut
    queryset = Consult.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=ConsultOut(many=True))
    def get(self, request: Request, m: str) -> Response:
        consults = selectors.shopper_consults(merchant=self.merchant, shopper=request.user)
        page = self.paginate_queryset(consults)
        return self.get_paginated_response(ConsultOut(page, many=True).data)

    @extend_schema(request=ConsultIn, responses={201: RequestedOut}, description=ERRORS)
    def post(self, request: Request, m: str) -> Response:
        data = _body(request, {"room", "product", "topic", "language", "question"})
        requested = services.consult_request(
            merchant=self.merchant,
            shopper=request.user,
            topic=data.get("topic", ""),
            language=data.get("language", ""),
            question=data.get("question", ""),
            room=data.get("room"),
            product=data.get("product"),
        )
        consult = selectors.shopper_consult_get(
            merchant=self.merchant, shopper=request.user, public_id=requested.consult.public_id
        )
        return Response(
            {
                "consult": ConsultOut(consult).data,
                "join": join_out(requested.join, consult, self.merchant.slug),
                "call_url": _call_url(self.merchant.slug, consult),
            },
            status=status.HTTP_201_CREATED,
        )


class _ShopperConsultView(ShopperAPIView):
    def consult(self, consult_id: str) -> Consult:
        return selectors.shopper_consult_get(
            merchant=self.merchant, shopper=self.request.user, public_id=consult_id
        )

    def detail(self, consult_id: str) -> Response:
        return Response(ConsultDetailOut(self.consult(consult_id)).data)


class ShopperConsultDetailView(_ShopperConsultView):
    serializer_class = ConsultDetailOut

    def get(self, request: Request, m: str, consult_id: str) -> Response:
        return self.detail(consult_id)


class ShopperConsultJoinView(_ShopperConsultView):
    """A fresh join token for the consult socket (one per connection; reconnects too)."""

    serializer_class = JoinOut

    @extend_schema(request=None, responses={200: JoinOut})
    def post(self, request: Request, m: str, consult_id: str) -> Response:
        consult = self.consult(consult_id)
        join = services.shopper_join_token(
            merchant=self.merchant, shopper=request.user, consult=consult
        )
        return Response(join_out(join, consult, self.merchant.slug))


class ShopperConsultCancelView(_ShopperConsultView):
    """Leave the queue (before an agent took the request)."""

    serializer_class = ConsultDetailOut

    @extend_schema(request=None, responses={200: ConsultDetailOut})
    def post(self, request: Request, m: str, consult_id: str) -> Response:
        services.consult_cancel(
            merchant=self.merchant, shopper=request.user, consult=self.consult(consult_id)
        )
        return self.detail(consult_id)


class ShopperConsultEndView(_ShopperConsultView):
    """Hang up (a request still waiting is cancelled)."""

    serializer_class = ConsultDetailOut

    @extend_schema(request=None, responses={200: ConsultDetailOut})
    def post(self, request: Request, m: str, consult_id: str) -> Response:
        services.consult_end_by_shopper(
            merchant=self.merchant, shopper=request.user, consult=self.consult(consult_id)
        )
        return self.detail(consult_id)


class ShopperConsultRatingView(_ShopperConsultView):
    """Rate an ended call 1–5 (once), with an optional comment."""

    serializer_class = ConsultDetailOut

    @extend_schema(request=RatingIn, responses={200: ConsultDetailOut})
    def post(self, request: Request, m: str, consult_id: str) -> Response:
        data = _body(request, {"rating", "comment"})
        services.consult_rate(
            merchant=self.merchant,
            shopper=request.user,
            consult=self.consult(consult_id),
            rating=data.get("rating"),
            comment=data.get("comment", ""),
        )
        return self.detail(consult_id)


class ShopperBookingListView(ShopperAPIView):
    """Your booked consults. POST books a free slot (see `consults/slots`)."""

    serializer_class = BookingOut
    queryset = Booking.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=BookingOut(many=True))
    def get(self, request: Request, m: str) -> Response:
        page = self.paginate_queryset(
            selectors.shopper_bookings(merchant=self.merchant, shopper=request.user)
        )
        return self.get_paginated_response(BookingOut(page, many=True).data)

    @extend_schema(
        request=BookingIn,
        responses={201: BookingOut},
        description="409 `slot_unavailable` / `slot_taken` (pick another), "
        "409 `too_many_bookings`.",
    )
    def post(self, request: Request, m: str) -> Response:
        data = _body(
            request, {"starts_at", "agent", "topic", "language", "question", "room", "product"}
        )
        booking = services.booking_create(
            merchant=self.merchant,
            shopper=request.user,
            starts_at=data.get("starts_at"),
            agent=data.get("agent"),
            topic=data.get("topic", ""),
            language=data.get("language", ""),
            question=data.get("question", ""),
            room=data.get("room"),
            product=data.get("product"),
        )
        booking = selectors.shopper_booking_get(
            merchant=self.merchant, shopper=request.user, public_id=booking.public_id
        )
        return Response(BookingOut(booking).data, status=status.HTTP_201_CREATED)


class _ShopperBookingView(ShopperAPIView):
    def booking(self, booking_id: str) -> Booking:
        return selectors.shopper_booking_get(
            merchant=self.merchant, shopper=self.request.user, public_id=booking_id
        )


class ShopperBookingCancelView(_ShopperBookingView):
    serializer_class = BookingOut

    @extend_schema(request=None, responses={200: BookingOut})
    def post(self, request: Request, m: str, booking_id: str) -> Response:
        booking = services.booking_cancel(
            merchant=self.merchant, shopper=request.user, booking=self.booking(booking_id)
        )
        return Response(BookingOut(self.booking(booking.public_id)).data)


class ShopperBookingStartView(_ShopperBookingView):
    """At the booked time: join the queue, routed to your agent first."""

    serializer_class = RequestedOut

    @extend_schema(request=None, responses={201: RequestedOut}, description=ERRORS)
    def post(self, request: Request, m: str, booking_id: str) -> Response:
        requested = services.booking_start(
            merchant=self.merchant, shopper=request.user, booking=self.booking(booking_id)
        )
        consult = selectors.shopper_consult_get(
            merchant=self.merchant, shopper=request.user, public_id=requested.consult.public_id
        )
        return Response(
            {
                "consult": ConsultOut(consult).data,
                "join": join_out(requested.join, consult, self.merchant.slug),
                "call_url": _call_url(self.merchant.slug, consult),
            },
            status=status.HTTP_201_CREATED,
        )


# --- merchant side ----------------------------------------------------------------------------


def _status_filter(request: Request) -> str:
    value = _query(request, "status", 20)
    if value and value not in ConsultStatus.values:
        raise ValidationError({"status": [gettext("One of %s.") % ", ".join(ConsultStatus.values)]})
    return value


class ConsultListView(MerchantAPIView):
    """Consults, newest first. Agents see the queue and their own; supervisors all."""

    required_perms = {"GET": Perm.VIEW_CONSULTS}
    serializer_class = StaffConsultOut
    queryset = Consult.objects.none()  # for the OpenAPI schema

    @extend_schema(
        responses=StaffConsultOut(many=True),
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=ConsultStatus.values),
            OpenApiParameter("agent", OpenApiTypes.INT, description="Agent user id"),
        ],
    )
    def get(self, request: Request, m: str) -> Response:
        agent = _query(request, "agent", 20)
        agent_id = services._positive_int(agent) if agent else None
        if agent and agent_id is None:
            raise ValidationError({"agent": [gettext("Give an agent id.")]})
        consults = selectors.consult_list(
            actor=self.actor, status=_status_filter(request), agent_id=agent_id
        )
        page = self.paginate_queryset(consults)
        snapshot = selectors.queue_snapshot(merchant_id=self.merchant.id)
        return self.get_paginated_response(
            StaffConsultOut(page, many=True, context={"snapshot": snapshot}).data
        )


class ConsoleView(MerchantAPIView):
    """The agent's console feed (polled): your presence, the live queue with each request's
    context, requests offered to you, your calls."""

    required_perms = {"GET": Perm.TAKE_CONSULTS}
    serializer_class = ConsoleOut

    def get(self, request: Request, m: str) -> Response:
        services._person(self.actor)
        merchant = self.merchant
        user = self.actor.user
        profile = selectors.agent_profile(merchant=merchant, user=user) or AgentProfile(
            merchant=merchant, user=user, languages=[merchant.locale]
        )
        snapshot = selectors.queue_snapshot(merchant_id=merchant.id)
        queued = list(selectors.queue(merchant=merchant)[:50])
        context = {"snapshot": snapshot}
        return Response(
            {
                "presence": PresenceOut(profile).data,
                "queue": QueueItemOut(queued, many=True, context=context).data,
                "offers": QueueItemOut(
                    [c for c in queued if c.offered_to_id == user.pk], many=True, context=context
                ).data,
                "active": QueueItemOut(
                    selectors.my_active(merchant=merchant, user=user), many=True, context=context
                ).data,
                "stats": selectors.queue_stats(merchant=merchant),
                "currency": merchant.currency,
            }
        )


class PresenceView(MerchantAPIView):
    """Set your status (online / busy / away / offline), skills, languages and how many
    consults you take at once. Also the console's heartbeat (send `{}` every 15 s)."""

    required_perms = {"POST": Perm.TAKE_CONSULTS}
    serializer_class = PresenceOut

    @extend_schema(request=PresenceIn, responses={200: PresenceOut})
    def post(self, request: Request, m: str) -> Response:
        data = _body(request, {"status", "skills", "languages", "max_concurrent"})
        profile = services.agent_presence_set(
            actor=self.actor,
            status=data.get("status"),
            skills=data.get("skills"),
            languages=data.get("languages"),
            max_concurrent=data.get("max_concurrent"),
        )
        return Response(PresenceOut(profile).data)


class AcceptView(MerchantAPIView):
    """Take the next request (your pending offer first), or the one named in `consult`."""

    required_perms = {"POST": Perm.TAKE_CONSULTS}
    serializer_class = AcceptedOut

    @extend_schema(
        request=AcceptIn,
        responses={200: AcceptedOut},
        description="409 `queue_empty`, `already_taken`, `offered_elsewhere`, `at_capacity`.",
    )
    def post(self, request: Request, m: str) -> Response:
        data = _body(request, {"consult"})
        consult = None
        if data.get("consult") is not None:
            if not isinstance(data["consult"], str) or len(data["consult"]) > 32:
                raise ValidationError({"consult": [gettext("Give a consult id.")]})
            consult = selectors.staff_consult_get(actor=self.actor, public_id=data["consult"])
        accepted = services.consult_accept(actor=self.actor, consult=consult)
        consult = selectors.consult_get(
            merchant=self.merchant, public_id=accepted.consult.public_id
        )
        return Response(
            {
                "consult": StaffConsultOut(consult).data,
                "join": join_out(accepted.join, consult, self.merchant.slug),
            }
        )


class _StaffConsultView(MerchantAPIView):
    def consult(self, consult_id: str) -> Consult:
        return selectors.staff_consult_get(actor=self.actor, public_id=consult_id)

    def detail(self, consult_id: str) -> Response:
        consult = self.consult(consult_id)
        return Response(
            StaffConsultDetailOut(
                consult, context={"recordings": self.actor.can(Perm.SUPERVISE_CONSULTS)}
            ).data
        )


class ConsultDetailView(_StaffConsultView):
    """A consult with its transcript, pushed products, orders and consent records (and
    recordings, for supervisors). PATCH sets the agent's notes."""

    required_perms = {"GET": Perm.VIEW_CONSULTS, "PATCH": Perm.TAKE_CONSULTS}
    serializer_class = StaffConsultDetailOut

    def get(self, request: Request, m: str, consult_id: str) -> Response:
        return self.detail(consult_id)

    @extend_schema(request=NotesIn, responses={200: StaffConsultDetailOut})
    def patch(self, request: Request, m: str, consult_id: str) -> Response:
        consult = self.consult(consult_id)  # outsiders and foreign ids: 404 before 400
        data = _body(request, {"notes"})
        if "notes" not in data:
            raise ValidationError({"notes": [gettext("This field is required.")]})
        services.consult_notes_set(actor=self.actor, consult=consult, notes=data["notes"])
        return self.detail(consult_id)


class ConsultJoinView(_StaffConsultView):
    """A join token: the consult's agent joins as `agent`; owners and admins may join an
    active call as a silent `supervisor`."""

    required_perms = {"POST": Perm.TAKE_CONSULTS}
    serializer_class = JoinOut

    @extend_schema(request=None, responses={200: JoinOut})
    def post(self, request: Request, m: str, consult_id: str) -> Response:
        consult = self.consult(consult_id)
        join = services.staff_join_token(actor=self.actor, consult=consult)
        return Response(join_out(join, consult, self.merchant.slug))


class ConsultEndView(_StaffConsultView):
    """End the call, with your notes. The shopper is asked to rate it."""

    required_perms = {"POST": Perm.TAKE_CONSULTS}
    serializer_class = StaffConsultDetailOut

    @extend_schema(request=EndIn, responses={200: StaffConsultDetailOut})
    def post(self, request: Request, m: str, consult_id: str) -> Response:
        data = _body(request, {"notes"})
        services.consult_end_by_staff(
            actor=self.actor, consult=self.consult(consult_id), notes=data.get("notes")
        )
        return self.detail(consult_id)


class ConsultPushView(_StaffConsultView):
    """Push a product card into the call (the socket's `product.push` does the same)."""

    required_perms = {"POST": Perm.TAKE_CONSULTS}
    serializer_class = PushedOut

    @extend_schema(request=PushIn, responses={201: PushedOut})
    def post(self, request: Request, m: str, consult_id: str) -> Response:
        data = _body(request, {"product"})
        pushed = services.product_push(
            consult=self.consult(consult_id),
            user=services._person(self.actor),
            product=data.get("product"),
        )
        return Response(PushedOut(pushed).data, status=status.HTTP_201_CREATED)


class ConsultCartView(_StaffConsultView):
    """Build the shopper's cart: a draft order with reserved stock, attributed to this
    consult and you. Replaces the open draft's lines (stock follows)."""

    required_perms = {"PUT": Perm.BUILD_CARTS}
    serializer_class = OrderOut

    @extend_schema(
        request=CartIn,
        responses={200: OrderOut},
        description="409 `out_of_stock` names the line; 400 `fields` for unknown products.",
    )
    def put(self, request: Request, m: str, consult_id: str) -> Response:
        data = _body(request, {"lines"})
        order = services.cart_set(
            actor=self.actor, consult=self.consult(consult_id), lines=data.get("lines")
        )
        return Response(OrderOut(_order(self.merchant, order.pk)).data)


class ConsultCartSendView(_StaffConsultView):
    """Send the cart to the shopper: they review and pay it in the call."""

    required_perms = {"POST": Perm.BUILD_CARTS}
    serializer_class = OrderOut

    @extend_schema(request=CartSendIn, responses={200: OrderOut})
    def post(self, request: Request, m: str, consult_id: str) -> Response:
        data = _body(request, {"shipping_address"})
        order = services.cart_send(
            actor=self.actor,
            consult=self.consult(consult_id),
            shipping_address=data.get("shipping_address"),
        )
        return Response(OrderOut(_order(self.merchant, order.pk)).data)


def _order(merchant: Any, order_id: int) -> Any:
    from commerce.selectors import order_get

    return order_get(merchant=merchant, order_id=order_id)


class ConsultRecordingListView(_StaffConsultView):
    """Recordings of a consult (made only while both parties consented). Supervisors."""

    required_perms = {"GET": Perm.SUPERVISE_CONSULTS}
    serializer_class = RecordingOut
    queryset = ConsultRecording.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=RecordingOut(many=True))
    def get(self, request: Request, m: str, consult_id: str) -> Response:
        consult = self.consult(consult_id)
        page = self.paginate_queryset(selectors.recordings(consult=consult))
        return self.get_paginated_response(RecordingOut(page, many=True).data)


class ConsultRecordingDetailView(_StaffConsultView):
    """DELETE removes the recording's media; the record of it stays (audited)."""

    required_perms = {"GET": Perm.SUPERVISE_CONSULTS, "DELETE": Perm.SUPERVISE_CONSULTS}
    serializer_class = RecordingOut

    def get(self, request: Request, m: str, consult_id: str, recording_id: int) -> Response:
        recording = selectors.recording_get(
            consult=self.consult(consult_id), recording_id=recording_id
        )
        return Response(RecordingOut(recording).data)

    @extend_schema(responses={200: RecordingOut})
    def delete(self, request: Request, m: str, consult_id: str, recording_id: int) -> Response:
        recording = selectors.recording_get(
            consult=self.consult(consult_id), recording_id=recording_id
        )
        recording = services.recording_delete(actor=self.actor, recording=recording)
        return Response(RecordingOut(recording).data)


class ConsultConsentView(_StaffConsultView):
    """Who consented to recording, and whether it runs now."""

    required_perms = {"GET": Perm.VIEW_CONSULTS}
    serializer_class = ConsentStateOut

    def get(self, request: Request, m: str, consult_id: str) -> Response:
        return Response(selectors.consent_state(consult=self.consult(consult_id)))


class AnalyticsView(MerchantAPIView):
    """Per agent: consults handled, average wait before accept, handle time, conversion
    (a paid order from the consult), ratings and revenue; over the last `days` days."""

    required_perms = {"GET": Perm.SUPERVISE_CONSULTS}
    serializer_class = AnalyticsOut

    @extend_schema(
        parameters=[OpenApiParameter("days", OpenApiTypes.INT, description="1–365, default 30")]
    )
    def get(self, request: Request, m: str) -> Response:
        days_raw = _query(request, "days", 4) or "30"
        if not days_raw.isdigit() or not 1 <= int(days_raw) <= 365:
            raise ValidationError({"days": [gettext("A whole number from 1 to 365.")]})
        since = timezone.now() - timedelta(days=int(days_raw))
        return Response(
            {
                "since": since,
                "currency": self.merchant.currency,
                "totals": selectors.merchant_consult_stats(merchant=self.merchant, since=since),
                "agents": selectors.agent_stats(merchant=self.merchant, since=since),
            }
        )


class AvailabilityListView(MerchantAPIView):
    """Your published availability (upcoming). POST adds a window shoppers can book in."""

    required_perms = {"GET": Perm.TAKE_CONSULTS, "POST": Perm.TAKE_CONSULTS}
    serializer_class = WindowOut
    queryset = AvailabilityWindow.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=WindowOut(many=True))
    def get(self, request: Request, m: str) -> Response:
        user = services._person(self.actor)
        windows = selectors.windows_of(merchant=self.merchant, agent_id=user.pk).select_related(
            "agent"
        )
        page = self.paginate_queryset(windows)
        return self.get_paginated_response(WindowOut(page, many=True).data)

    @extend_schema(request=WindowIn, responses={201: WindowOut})
    def post(self, request: Request, m: str) -> Response:
        data = _body(request, {"starts_at", "ends_at"})
        window = services.availability_add(
            actor=self.actor, starts_at=data.get("starts_at"), ends_at=data.get("ends_at")
        )
        return Response(WindowOut(window).data, status=status.HTTP_201_CREATED)


class AvailabilityDetailView(MerchantAPIView):
    required_perms = {"DELETE": Perm.TAKE_CONSULTS}
    serializer_class = WindowOut

    @extend_schema(responses={204: None})
    def delete(self, request: Request, m: str, window_id: int) -> Response:
        user = services._person(self.actor)
        supervisor = self.actor.can(Perm.SUPERVISE_CONSULTS)
        window = selectors.window_get(
            merchant=self.merchant, agent_id=None if supervisor else user.pk, window_id=window_id
        )
        services.availability_delete(actor=self.actor, window=window)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BookingListView(MerchantAPIView):
    """Upcoming booked consults (agents: their own; supervisors: everyone's)."""

    required_perms = {"GET": Perm.VIEW_CONSULTS}
    serializer_class = StaffBookingOut
    queryset = Booking.objects.none()  # for the OpenAPI schema

    @extend_schema(responses=StaffBookingOut(many=True))
    def get(self, request: Request, m: str) -> Response:
        agent_id = None
        if not self.actor.can(Perm.SUPERVISE_CONSULTS) and self.actor.user is not None:
            agent_id = self.actor.user.pk
        page = self.paginate_queryset(
            selectors.bookings_upcoming(merchant=self.merchant, agent_id=agent_id)
        )
        return self.get_paginated_response(StaffBookingOut(page, many=True).data)

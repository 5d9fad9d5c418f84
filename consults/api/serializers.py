"""Consult API shapes. Output serializers render; input serializers document the bodies (the
services validate them, with errors naming the field)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from commerce.api.serializers import AddressSerializer, LineIn, OrderOut

from .. import selectors
from ..models import (
    AgentProfile,
    AgentStatus,
    AvailabilityWindow,
    Booking,
    BookingStatus,
    ConsentRecord,
    Consult,
    ConsultMessage,
    ConsultRecording,
    ConsultStatus,
    EndReason,
    Outcome,
    PushedProduct,
    RecordingState,
)
from ..services import MAX_COMMENT, MAX_NOTES, MAX_QUESTION


class PersonOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")


class ProductRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class JoinOut(serializers.Serializer):
    token = serializers.CharField(
        help_text="Send as the first frame on the consult socket: "
        '{"type": "auth", "token": …}. Works once, for this consult only.'
    )
    expires_at = serializers.DateTimeField()
    party = serializers.ChoiceField(choices=["shopper", "agent", "supervisor"])
    grants = serializers.ListField(child=serializers.CharField())
    socket = serializers.CharField(help_text="The consult socket's path.")


def join_out(join: Any, consult: Consult, merchant_slug: str) -> dict[str, Any]:
    return {
        "token": join.token,
        "expires_at": join.expires_at,
        "party": join.party,
        "grants": list(join.grants),
        "socket": f"/ws/consults/{merchant_slug}/{consult.public_id}/",
    }


class QueueOut(serializers.Serializer):
    position = serializers.IntegerField(help_text="1 = next; 0 once an agent took it")
    eta_s = serializers.IntegerField(help_text="Estimated wait in seconds")


class ConsultOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    status = serializers.ChoiceField(choices=ConsultStatus.choices, read_only=True)
    end_reason = serializers.ChoiceField(choices=EndReason.choices, read_only=True)
    outcome = serializers.ChoiceField(choices=Outcome.choices, read_only=True)
    agent = PersonOut(read_only=True, allow_null=True)
    room: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    product = ProductRefOut(read_only=True, allow_null=True)
    pinned_product = ProductRefOut(read_only=True, allow_null=True)
    queue = serializers.SerializerMethodField()
    booking = serializers.SerializerMethodField()

    class Meta:
        model = Consult
        fields = [
            "id",
            "status",
            "topic",
            "language",
            "question",
            "room",
            "product",
            "pinned_product",
            "agent",
            "queue",
            "booking",
            "created_at",
            "accepted_at",
            "ended_at",
            "end_reason",
            "wait_seconds",
            "handle_seconds",
            "outcome",
            "rating",
            "comment",
        ]

    @extend_schema_field(QueueOut)
    def get_queue(self, consult: Consult) -> dict[str, int]:
        return selectors.queue_position(consult=consult, snapshot=self.context.get("snapshot"))

    @extend_schema_field(OpenApiTypes.STR)
    def get_booking(self, consult: Consult) -> str | None:
        return consult.booking.public_id if consult.booking is not None else None


class ConsultShopperOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")
    email = serializers.EmailField()


class StaffConsultOut(ConsultOut):
    shopper = ConsultShopperOut(read_only=True)
    offered_to: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    notes = serializers.CharField(read_only=True)

    class Meta(ConsultOut.Meta):
        fields = [*ConsultOut.Meta.fields, "shopper", "offered_to", "offer_expires_at", "notes"]


class MessageOut(serializers.ModelSerializer):
    user = PersonOut(source="sender", read_only=True, allow_null=True)

    class Meta:
        model = ConsultMessage
        fields = ["id", "party", "user", "text", "created_at"]


class PushedOut(serializers.ModelSerializer):
    product = ProductRefOut(read_only=True)

    class Meta:
        model = PushedProduct
        fields = ["product", "created_at"]


class ConsentOut(serializers.ModelSerializer):
    class Meta:
        model = ConsentRecord
        fields = ["party", "user", "granted", "created_at"]


class RecordingOut(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=RecordingState.choices, read_only=True)

    class Meta:
        model = ConsultRecording
        fields = [
            "id",
            "state",
            "started_at",
            "stopped_at",
            "size_bytes",
            "deleted_at",
            "deleted_by",
        ]


class ConsultDetailOut(ConsultOut):
    """The shopper's view of their consult: the call's chat, pushed products and cart."""

    messages = serializers.SerializerMethodField()
    pushed = serializers.SerializerMethodField()
    cart = serializers.SerializerMethodField()
    consent = serializers.SerializerMethodField()

    class Meta(ConsultOut.Meta):
        fields = [*ConsultOut.Meta.fields, "messages", "pushed", "cart", "consent"]

    @extend_schema_field(MessageOut(many=True))
    def get_messages(self, consult: Consult) -> Any:
        rows = consult.messages.filter(merchant_id=consult.merchant_id).select_related("sender")
        return MessageOut(list(rows.order_by("-id")[:200])[::-1], many=True).data

    @extend_schema_field(PushedOut(many=True))
    def get_pushed(self, consult: Consult) -> Any:
        rows = consult.pushed.filter(merchant_id=consult.merchant_id).select_related("product")
        return PushedOut(rows.order_by("id"), many=True).data

    @extend_schema_field(OrderOut(allow_null=True))
    def get_cart(self, consult: Consult) -> Any:
        order = selectors.current_cart(consult=consult)
        return OrderOut(order).data if order is not None else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_consent(self, consult: Consult) -> Any:
        return selectors.consent_state(consult=consult)


class StaffConsultDetailOut(StaffConsultOut):
    messages = serializers.SerializerMethodField()
    pushed = serializers.SerializerMethodField()
    orders = serializers.SerializerMethodField()
    consents = serializers.SerializerMethodField()
    recordings = serializers.SerializerMethodField()

    class Meta(StaffConsultOut.Meta):
        fields = [
            *StaffConsultOut.Meta.fields,
            "messages",
            "pushed",
            "orders",
            "consents",
            "recordings",
        ]

    get_messages = ConsultDetailOut.get_messages
    get_pushed = ConsultDetailOut.get_pushed

    @extend_schema_field(OrderOut(many=True))
    def get_orders(self, consult: Consult) -> Any:
        return OrderOut(selectors.consult_orders(consult=consult), many=True).data

    @extend_schema_field(ConsentOut(many=True))
    def get_consents(self, consult: Consult) -> Any:
        return ConsentOut(consult.consents.filter(merchant_id=consult.merchant_id), many=True).data

    @extend_schema_field(RecordingOut(many=True))
    def get_recordings(self, consult: Consult) -> Any:
        if not self.context.get("recordings"):
            return []
        return RecordingOut(selectors.recordings(consult=consult), many=True).data


class ConsultIn(serializers.Serializer):
    room = serializers.CharField(required=False, help_text="Slug of the room asked from")
    product = serializers.IntegerField(required=False, help_text="The product asked about")
    topic = serializers.CharField(
        required=False, max_length=40, help_text="A topic tag, e.g. sizing (agents' skills)"
    )
    language = serializers.CharField(
        required=False, max_length=10, help_text="Language code; the merchant's by default"
    )
    question = serializers.CharField(required=False, max_length=MAX_QUESTION)


class RequestedOut(serializers.Serializer):
    consult = ConsultOut()
    join = JoinOut()
    call_url = serializers.CharField(help_text="The shopper's call page")


class RatingIn(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(required=False, max_length=MAX_COMMENT, allow_blank=True)


class NotesIn(serializers.Serializer):
    notes = serializers.CharField(max_length=MAX_NOTES, allow_blank=True)


class EndIn(serializers.Serializer):
    notes = serializers.CharField(required=False, max_length=MAX_NOTES, allow_blank=True)


class AcceptIn(serializers.Serializer):
    consult = serializers.CharField(
        required=False, help_text="A queued request's id; the next one when left out"
    )


class AcceptedOut(serializers.Serializer):
    consult = StaffConsultOut()
    join = JoinOut()


class PushIn(serializers.Serializer):
    product = serializers.IntegerField()


class CartIn(serializers.Serializer):
    lines = LineIn(many=True)


class CartSendIn(serializers.Serializer):
    shipping_address = AddressSerializer(required=False)


class PresenceIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=AgentStatus.choices, required=False)
    skills = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    languages = serializers.ListField(child=serializers.CharField(max_length=10), required=False)
    max_concurrent = serializers.IntegerField(min_value=1, max_value=10, required=False)


class PresenceOut(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=AgentStatus.choices, read_only=True)

    class Meta:
        model = AgentProfile
        fields = ["status", "skills", "languages", "max_concurrent", "last_seen_at", "status_since"]


class ContextOut(serializers.Serializer):
    room = serializers.CharField(allow_null=True)
    product = ProductRefOut(allow_null=True)
    pinned_product = ProductRefOut(allow_null=True)
    recent_chat = serializers.ListField(child=serializers.DictField())
    past_orders = OrderOut(many=True)
    orders_count = serializers.IntegerField()
    paid_total = serializers.IntegerField()


class QueueItemOut(StaffConsultOut):
    shopper_context = serializers.SerializerMethodField(
        help_text="Where they came from, what was pinned, their recent chat, past orders"
    )

    class Meta(StaffConsultOut.Meta):
        fields = [*StaffConsultOut.Meta.fields, "shopper_context"]

    @extend_schema_field(ContextOut)
    def get_shopper_context(self, consult: Consult) -> Any:
        data = selectors.consult_context(consult=consult)
        return {
            "room": data["room"].slug if data["room"] is not None else None,
            "product": ProductRefOut(data["product"]).data if data["product"] else None,
            "pinned_product": ProductRefOut(data["pinned_product"]).data
            if data["pinned_product"]
            else None,
            "recent_chat": data["recent_chat"],
            "past_orders": OrderOut(data["past_orders"], many=True).data,
            "orders_count": data["orders_count"],
            "paid_total": data["paid_total"],
        }


class ConsoleOut(serializers.Serializer):
    presence = PresenceOut()
    queue = QueueItemOut(many=True)
    offers = QueueItemOut(many=True, help_text="Requests offered to you: accept them")
    active = QueueItemOut(many=True, help_text="Your calls")
    stats = serializers.DictField(child=serializers.IntegerField())
    currency = serializers.CharField()


class AgentStatsOut(serializers.Serializer):
    agent = serializers.DictField()
    handled = serializers.IntegerField()
    avg_wait_s = serializers.IntegerField(allow_null=True)
    avg_handle_s = serializers.IntegerField(allow_null=True)
    conversions = serializers.IntegerField()
    conversion_rate = serializers.FloatField()
    avg_rating = serializers.FloatField(allow_null=True)
    ratings = serializers.IntegerField()
    revenue = serializers.IntegerField(help_text="Paid orders from these consults, minor units")


class AnalyticsOut(serializers.Serializer):
    since = serializers.DateTimeField()
    currency = serializers.CharField()
    totals = serializers.DictField()
    agents = AgentStatsOut(many=True)


class WindowIn(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class WindowOut(serializers.ModelSerializer):
    agent = PersonOut(read_only=True)

    class Meta:
        model = AvailabilityWindow
        fields = ["id", "agent", "starts_at", "ends_at"]


class SlotOut(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    agent = serializers.DictField()


class BookingIn(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    agent = serializers.IntegerField(required=False, help_text="Any free agent when left out")
    topic = serializers.CharField(required=False, max_length=40)
    language = serializers.CharField(required=False, max_length=10)
    question = serializers.CharField(required=False, max_length=MAX_QUESTION)
    room = serializers.CharField(required=False)
    product = serializers.IntegerField(required=False)


class BookingOut(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    status = serializers.ChoiceField(choices=BookingStatus.choices, read_only=True)
    agent = PersonOut(read_only=True)
    room: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    product = ProductRefOut(read_only=True, allow_null=True)

    class Meta:
        model = Booking
        fields = [
            "id",
            "status",
            "agent",
            "starts_at",
            "ends_at",
            "topic",
            "language",
            "question",
            "room",
            "product",
            "reminder_sent_at",
            "created_at",
        ]


class StaffBookingOut(BookingOut):
    shopper = ConsultShopperOut(read_only=True)

    class Meta(BookingOut.Meta):
        fields = [*BookingOut.Meta.fields, "shopper"]


class OptionsOut(serializers.Serializer):
    agents_online = serializers.IntegerField()
    accepting = serializers.BooleanField(help_text="Requests are taken (agents online or busy)")
    topics = serializers.ListField(child=serializers.CharField())
    languages = serializers.ListField(child=serializers.CharField())
    languages_online = serializers.ListField(child=serializers.CharField())
    booking = serializers.BooleanField(help_text="Agents published availability to book")
    signed_in = serializers.BooleanField()
    open_consult = serializers.CharField(allow_null=True)


class ConsentStateOut(serializers.Serializer):
    shopper = serializers.BooleanField(allow_null=True)
    agent = serializers.BooleanField(allow_null=True)
    recording = serializers.BooleanField()

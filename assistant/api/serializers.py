"""Assistant API shapes. Output serializers render; input serializers document request bodies
(the services validate them, with errors naming the field)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import (
    FAQ_TEXT_MAX,
    NAME_MAX,
    SLIDE_SECONDS_MAX,
    SLIDE_SECONDS_MIN,
    FaqEntry,
    Handoff,
    HandoffStatus,
    Question,
    QuestionStatus,
    ShowMode,
    VirtualShow,
)


class RoomAssistantOut(serializers.Serializer):
    enabled = serializers.BooleanField()
    mentions_only = serializers.BooleanField(help_text="Answer only messages that @mention it")
    display_name = serializers.CharField()
    show_stock_counts = serializers.BooleanField(
        help_text="Say how many are left, or only 'in stock' / 'only a few left'"
    )


class RoomAssistantIn(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    mentions_only = serializers.BooleanField(required=False)
    display_name = serializers.CharField(required=False, max_length=NAME_MAX)
    show_stock_counts = serializers.BooleanField(required=False)


class FaqOut(serializers.ModelSerializer):
    class Meta:
        model = FaqEntry
        fields = [
            "id",
            "topic",
            "question",
            "answer",
            "question_zh",
            "answer_zh",
            "position",
            "is_active",
            "updated_at",
        ]


class FaqIn(serializers.Serializer):
    topic = serializers.CharField(
        max_length=40, help_text="shipping, returns, payment or your own lower-case word"
    )
    question = serializers.CharField(max_length=300, required=False, allow_blank=True)
    answer = serializers.CharField(max_length=FAQ_TEXT_MAX, required=False, allow_blank=True)
    question_zh = serializers.CharField(max_length=300, required=False, allow_blank=True)
    answer_zh = serializers.CharField(max_length=FAQ_TEXT_MAX, required=False, allow_blank=True)
    position = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    is_active = serializers.BooleanField(required=False)


class AskerOut(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()


class QuestionOut(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=QuestionStatus.choices, read_only=True)
    asker = serializers.SerializerMethodField()
    products = serializers.ListField(
        source="product_ids", child=serializers.IntegerField(), read_only=True
    )
    handoff = serializers.SerializerMethodField(help_text="The hand-off's id when one was made")

    class Meta:
        model = Question
        fields = [
            "id",
            "seq",
            "text",
            "lang",
            "status",
            "reason",
            "answer",
            "products",
            "asker",
            "handoff",
            "asked_at",
            "answered_at",
            "latency_ms",
        ]

    @extend_schema_field(AskerOut)
    def get_asker(self, question: Question) -> dict[str, Any]:
        return {"id": question.user_id, "name": question.user_name}

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_handoff(self, question: Question) -> int | None:
        handoff = getattr(question, "handoff", None)
        return handoff.pk if handoff is not None else None


class ReplyIn(serializers.Serializer):
    text = serializers.CharField(max_length=500, help_text="The host's answer, shown pinned")
    products = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=3,
        help_text="Products to show as buyable cards with the answer",
    )


class HandoffOut(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=HandoffStatus.choices, read_only=True)
    question = serializers.CharField(source="question.text", read_only=True)
    room = serializers.CharField(source="room.slug", read_only=True)
    shopper = serializers.IntegerField(source="shopper_id", read_only=True, allow_null=True)
    pinned_product = serializers.IntegerField(
        source="pinned_product_id", read_only=True, allow_null=True
    )
    lineup = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = Handoff
        fields = [
            "id",
            "question",
            "reason",
            "lang",
            "room",
            "shopper",
            "pinned_product",
            "lineup",
            "status",
            "consult_id",
            "created_at",
        ]


class ShowEntryIn(serializers.Serializer):
    product = serializers.IntegerField(min_value=1)
    caption = serializers.CharField(max_length=200, required=False, allow_blank=True)
    caption_zh = serializers.CharField(max_length=200, required=False, allow_blank=True)
    seconds = serializers.IntegerField(
        required=False, allow_null=True, min_value=SLIDE_SECONDS_MIN, max_value=SLIDE_SECONDS_MAX
    )


class ShowIn(serializers.Serializer):
    mode = serializers.ChoiceField(choices=ShowMode.choices, required=False)
    recording = serializers.CharField(max_length=200, required=False, allow_blank=True)
    starts_at = serializers.DateTimeField(required=False)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    slide_seconds = serializers.IntegerField(
        required=False, min_value=SLIDE_SECONDS_MIN, max_value=SLIDE_SECONDS_MAX
    )
    is_active = serializers.BooleanField(required=False)
    entries = ShowEntryIn(many=True, required=False, help_text="Replaces the timeline")


class ShowEntryOut(serializers.Serializer):
    position = serializers.IntegerField()
    product = serializers.IntegerField(source="product_id")
    caption = serializers.CharField()
    caption_zh = serializers.CharField()
    seconds = serializers.IntegerField(allow_null=True)


class ShowOut(serializers.ModelSerializer):
    mode = serializers.ChoiceField(choices=ShowMode.choices, read_only=True)
    running = serializers.BooleanField(read_only=True)
    entries = serializers.SerializerMethodField()

    class Meta:
        model = VirtualShow
        fields = [
            "mode",
            "recording",
            "is_active",
            "starts_at",
            "ends_at",
            "slide_seconds",
            "running",
            "position",
            "loop",
            "next_at",
            "entries",
        ]

    @extend_schema_field(ShowEntryOut(many=True))
    def get_entries(self, show: VirtualShow) -> Any:
        return ShowEntryOut(
            show.entries.filter(merchant_id=show.merchant_id).order_by("position", "id"), many=True
        ).data


class ReplayCardOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    price = serializers.IntegerField()
    price_max = serializers.IntegerField(required=False)
    currency = serializers.CharField()
    image = serializers.CharField()
    stock = serializers.IntegerField()
    url = serializers.CharField()


class ReplayStepOut(serializers.Serializer):
    position = serializers.IntegerField()
    product = ReplayCardOut()
    caption = serializers.CharField()
    seconds = serializers.IntegerField()


class ReplayOut(serializers.Serializer):
    replay = serializers.BooleanField(help_text="Always true: show it as a replay")
    mode = serializers.ChoiceField(choices=ShowMode.choices)
    recording_url = serializers.CharField(allow_null=True)
    running = serializers.BooleanField()
    starts_at = serializers.FloatField()
    ends_at = serializers.FloatField(allow_null=True)
    position = serializers.IntegerField(allow_null=True)
    loop = serializers.IntegerField()
    current = ReplayStepOut(allow_null=True)
    next_at = serializers.FloatField(allow_null=True, help_text="Unix time of the next step")
    timeline = ReplayStepOut(many=True)

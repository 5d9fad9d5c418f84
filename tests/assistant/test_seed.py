"""`seed_demo` gives each demo merchant its FAQ (DEMO_POLICIES) and the assistant on in its
`launch` room, and the demo room answers from them. Running it again adds nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from assistant.models import FaqEntry, RoomAssistant
from assistant.services import chat_observed
from commerce.demo_catalog import DEMO_POLICIES
from liveshop.accounts.models import User
from liveshop.tenancy.models import Merchant
from liveshop.tenancy.scope import tenant_scope
from rooms.models import Room
from tests.factories import plan_default

from .conftest import answers, chat

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_the_faq_and_turns_the_assistant_on(
    published, django_capture_on_commit_callbacks
):
    plan_default()
    call_command("seed_demo", verbosity=0, shoppers=1)
    call_command("seed_demo", verbosity=0, shoppers=1)  # idempotent
    for slug, policies in DEMO_POLICIES.items():
        merchant = Merchant.objects.get(slug=slug)
        with tenant_scope(merchant.id):
            topics = sorted(
                FaqEntry.objects.filter(merchant=merchant).values_list("topic", flat=True)
            )
            room = Room.objects.get(merchant=merchant, slug="launch")
            config = RoomAssistant.objects.get(room=room)
        assert topics == sorted(p["topic"] for p in policies)
        assert config.enabled
    demo = Merchant.objects.get(slug="demo")
    with tenant_scope(demo.id):
        room = Room.objects.get(merchant=demo, slug="launch")
    shopper = User.objects.get(email="shopper1@example.test")
    with django_capture_on_commit_callbacks(execute=True):
        chat_observed(room=room, event=chat(room, 1, "能寄到马来西亚吗？", shopper))
    (event,) = answers(published, room)
    assert "可以寄到马来西亚" in event["text"]

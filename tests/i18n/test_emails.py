"""Emails are written in the recipient's language, whoever triggers them and whatever the
language of the request or task that sends them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone, translation

from liveshop.tenancy import services as tenancy
from liveshop.tenancy.access import access_merchant
from tests.factories import ProductFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("compiled_messages")]


def set_locale(obj, locale):
    obj.locale = locale
    obj.save(update_fields=["locale"])
    return obj


class TestPasswordReset:
    def test_in_the_accounts_language_not_the_requesters(self, shopper):
        set_locale(shopper, "zh-hans")
        Client().post(
            "/accounts/password-reset/", {"email": shopper.email}, HTTP_ACCEPT_LANGUAGE="en"
        )
        [sent] = mail.outbox
        assert sent.subject == "LiveShop 密码重置"
        assert "有人申请重置你的 LiveShop 密码" in sent.body and "/accounts/reset/" in sent.body

    def test_english_account_from_a_chinese_browser(self, shopper):
        Client().post(
            "/accounts/password-reset/", {"email": shopper.email}, HTTP_ACCEPT_LANGUAGE="zh-hans"
        )
        [sent] = mail.outbox
        assert sent.subject == "LiveShop password reset"
        assert "Someone asked to reset your LiveShop password" in sent.body


class TestStaffInvite:
    def invite(self, owner, merchant, email, django_capture_on_commit_callbacks):
        actor = access_merchant(principal=owner, slug=merchant.slug)
        with django_capture_on_commit_callbacks(execute=True):
            tenancy.invite_create(actor=actor, email=email, role="host")
        return mail.outbox[-1]

    def test_existing_account_gets_its_own_language(
        self, owner, merchant, django_capture_on_commit_callbacks
    ):
        set_locale(UserFactory(email="mei@example.test"), "zh-hans")
        with translation.override("en"):  # the inviting owner works in English
            sent = self.invite(
                owner, merchant, "Mei@Example.test", django_capture_on_commit_callbacks
            )
        assert sent.subject == "你受邀加入 LiveShop 上的 Acme Live"
        assert "你受邀以主播身份加入 LiveShop 上的 Acme Live。" in sent.body
        assert "接受邀请：" in sent.body

    def test_newcomer_gets_the_shops_language(
        self, owner, merchant, django_capture_on_commit_callbacks
    ):
        sent = self.invite(owner, merchant, "new@example.test", django_capture_on_commit_callbacks)
        assert sent.subject == "You are invited to Acme Live on LiveShop"
        set_locale(merchant, "zh-hans")
        sent = self.invite(owner, merchant, "new2@example.test", django_capture_on_commit_callbacks)
        assert sent.subject == "你受邀加入 LiveShop 上的 Acme Live"


def test_order_email_in_the_shoppers_language(merchant, agent, django_capture_on_commit_callbacks):
    from commerce import services as commerce

    shopper = set_locale(UserFactory(display_name="Li Na"), "zh-hans")
    product = ProductFactory.create(merchant=merchant, name="Tee", price=1900, stock=3)
    actor = access_merchant(principal=agent, slug=merchant.slug)
    with translation.override("en"):  # the agent works in English
        with django_capture_on_commit_callbacks(execute=True):
            draft = commerce.order_draft_create(
                actor=actor, shopper=shopper, lines=[{"product": product.pk, "quantity": 1}]
            )
            commerce.order_draft_send(actor=actor, order=draft)
        assert translation.get_language() == "en"  # the task left the agent's language alone
    [sent] = mail.outbox
    assert sent.to == [shopper.email]
    assert sent.subject.endswith("：待付款") and "Acme Live" in sent.subject
    assert "Li Na，你好：" in sent.body and "合计" in sent.body


def test_consult_reminders_each_in_their_own_language(merchant, agent, settings):
    from consults import services as consults
    from consults.tasks import booking_reminders

    settings.LIVESHOP_CONSULTS = {**settings.LIVESHOP_CONSULTS, "REMINDER_LEAD_S": 3 * 3600}
    shopper = set_locale(UserFactory(display_name="Li Na"), "zh-hans")
    start = (timezone.now() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    consults.availability_add(
        actor=access_merchant(principal=agent, slug=merchant.slug),
        starts_at=start,
        ends_at=start + timedelta(hours=2),
    )
    consults.booking_create(merchant=merchant, shopper=shopper, starts_at=start)
    mail.outbox.clear()
    assert booking_reminders() == 1
    sent = {m.to[0]: m for m in mail.outbox}
    to_shopper, to_agent = sent[shopper.email], sent[agent.email]
    assert to_shopper.subject.startswith("你与 Acme Live 的视频咨询将于")
    assert "Li Na，你好：" in to_shopper.body and "时间到了请从这里进入：" in to_shopper.body
    assert to_agent.subject.startswith("Your video consult with Acme Live starts at")
    assert "Be online in your consult console:" in to_agent.body

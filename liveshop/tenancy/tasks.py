from __future__ import annotations

from celery import shared_task
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext

from liveshop.accounts.models import User, normalize_email
from liveshop.i18n import recipient_language

from .models import Merchant, StaffInvite
from .scope import tenant_scope


@shared_task(name="tenancy.send_invite_email", acks_late=True)
def send_invite_email(invite_id: int, merchant_id: int, link: str) -> bool:
    """Mail the invite link once (idempotent: a redelivered task sends nothing new)."""
    with tenant_scope(merchant_id):
        invite = (
            StaffInvite.objects.select_related("merchant", "invited_by")
            .filter(pk=invite_id)
            .first()
        )
        if invite is None or invite.email_sent_at or invite.status != "pending":
            return False
        merchant: Merchant = invite.merchant
        context = {"invite": invite, "merchant": merchant, "link": link}
        # In the invitee's language when they have an account already, else the shop's.
        invitee = User.objects.filter(email=normalize_email(invite.email)).first()
        with translation.override(recipient_language(invitee, merchant)):
            subject = gettext("You are invited to %(name)s on LiveShop") % {"name": merchant.name}
            body = render_to_string("emails/invite.txt", context)
        send_mail(subject=subject, message=body, from_email=None, recipient_list=[invite.email])
        StaffInvite.objects.filter(pk=invite.pk).update(email_sent_at=timezone.now())
    return True

"""Consult tasks. They take ids, are idempotent and `acks_late`, and enter tenant scope
themselves; the periodic sweeps find their rows through the audited bypass."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from liveshop.tenancy.scope import tenant_scope

from .models import Booking, BookingStatus


@shared_task(name="consults.sweep", acks_late=True)
def sweep() -> dict[str, int]:
    """Lapsed offers, stale presence, parties gone, missed bookings; then routing."""
    from .services import consults_sweep

    return consults_sweep()


@shared_task(name="consults.booking_reminders", acks_late=True)
def booking_reminders() -> int:
    """Queue a reminder for every booking starting within the reminder lead."""
    from .services import bookings_due_for_reminder

    due = bookings_due_for_reminder()
    for merchant_id, booking_id in due:
        booking_remind.delay(booking_id, merchant_id)
    return len(due)


@shared_task(name="consults.booking_remind", acks_late=True)
def booking_remind(booking_id: int, merchant_id: int) -> bool:
    """Email the shopper (and the agent) that their consult starts soon. Sends once: the
    booking is marked in the same transaction, and a redelivered task finds it marked."""
    with tenant_scope(merchant_id):
        booking = (
            Booking.objects.select_for_update()
            .select_related("shopper", "agent", "merchant")
            .filter(pk=booking_id, merchant_id=merchant_id)
            .first()
        )
        if (
            booking is None
            or booking.reminder_sent_at is not None
            or booking.status != BookingStatus.BOOKED
        ):
            return False
        merchant = booking.merchant
        link = settings.LIVESHOP_BASE_URL + reverse(
            "storefront:consult_booking", kwargs={"m": merchant.slug, "booking": booking.public_id}
        )
        for person, role in ((booking.shopper, "shopper"), (booking.agent, "agent")):
            with translation.override(getattr(person, "locale", None) or merchant.locale):
                context = {
                    "booking": booking,
                    "merchant": merchant,
                    "person": person,
                    "role": role,
                    "link": link
                    if role == "shopper"
                    else settings.LIVESHOP_BASE_URL
                    + reverse("dashboard:consults", kwargs={"m": merchant.slug}),
                }
                subject = " ".join(
                    render_to_string("emails/consult_reminder_subject.txt", context).split()
                )
                body = render_to_string("emails/consult_reminder.txt", context)
            send_mail(subject=subject, message=body, from_email=None, recipient_list=[person.email])
        Booking.objects.filter(pk=booking.pk).update(reminder_sent_at=timezone.now())
    return True

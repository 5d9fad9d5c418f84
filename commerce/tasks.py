"""Commerce tasks. They take ids, are idempotent and `acks_late`, and enter tenant scope
themselves; platform sweeps find their rows through the audited bypass."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from liveshop.tenancy.scope import tenant_scope

from .models import OrderTransition


@shared_task(name="commerce.order_status_email", acks_late=True)
def order_status_email(transition_id: int, merchant_id: int) -> bool:
    """Tell the shopper their order changed (placed, paid, shipped…). Sends once per
    transition: the row is marked in the same transaction, and a redelivered task finds it
    marked. (A crash between the mail server's accept and our commit can repeat one mail.)"""
    with tenant_scope(merchant_id):
        transition = (
            OrderTransition.objects.select_for_update()
            .select_related("order", "order__shopper", "merchant")
            .filter(pk=transition_id, merchant_id=merchant_id)
            .first()
        )
        if transition is None or transition.notified_at is not None:
            return False
        order = transition.order
        shopper = order.shopper
        merchant = transition.merchant
        with translation.override(getattr(shopper, "locale", None) or merchant.locale):
            context = {
                "order": order,
                "merchant": merchant,
                "transition": transition,
                "shopper": shopper,
                "lines": list(order.lines.all()),
                "link": settings.LIVESHOP_BASE_URL
                + reverse("storefront:order", kwargs={"m": merchant.slug, "order_id": order.pk}),
            }
            subject = " ".join(render_to_string("emails/order_status_subject.txt", context).split())
            body = render_to_string("emails/order_status.txt", context)
        send_mail(subject=subject, message=body, from_email=None, recipient_list=[shopper.email])
        OrderTransition.objects.filter(pk=transition.pk).update(notified_at=timezone.now())
    return True


@shared_task(name="commerce.expire_reservations", acks_late=True)
def expire_reservations() -> int:
    from .services import reservations_expire

    return reservations_expire()


@shared_task(name="commerce.purge_idempotency_keys", acks_late=True)
def purge_idempotency_keys() -> int:
    from .services import idempotency_keys_purge

    return idempotency_keys_purge()


@shared_task(name="commerce.sandbox_deliver", acks_late=True)
def sandbox_deliver(delivery_id: int) -> bool:
    """Deliver one sandbox webhook. Failures are recorded and retried by the sweep below, so
    the task itself never raises (in the embedded default it runs inside the request)."""
    from .payments.sandbox import sandbox_deliver_one

    return sandbox_deliver_one(delivery_id)


@shared_task(name="commerce.sandbox_redeliver", acks_late=True)
def sandbox_redeliver() -> int:
    from .payments.sandbox import sandbox_redeliver_due

    return sandbox_redeliver_due()

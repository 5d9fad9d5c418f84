"""factory-boy factories. Tenant rows are created inside their merchant's scope, so they
pass Postgres row-level security like the app's own writes."""

from __future__ import annotations

from typing import Any

import factory
from factory.django import DjangoModelFactory

from liveshop.accounts.models import User
from liveshop.tenancy.models import Membership, Merchant, Plan
from liveshop.tenancy.scope import tenant_scope

PASSWORD = "correct-horse-battery"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    display_name = factory.Sequence(lambda n: f"User {n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()


def plan_default() -> Plan:
    # Transactional tests flush the migration-seeded plans; recreate on demand.
    plan, _ = Plan.objects.get_or_create(
        code="growth",
        defaults=dict(
            name="Growth",
            staff_seats=25,
            rooms_live=5,
            webrtc_viewers_per_room=1000,
            stream_minutes_month=30000,
            api_rate_per_min=3000,
        ),
    )
    return plan


class MerchantFactory(DjangoModelFactory):
    class Meta:
        model = Merchant

    slug = factory.Sequence(lambda n: f"shop{n}")
    name = factory.Sequence(lambda n: f"Shop {n}")
    plan = factory.LazyFunction(plan_default)
    allowed_origins = factory.LazyFunction(lambda: ["http://127.0.0.1:8000"])


class TenantFactory(DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        with tenant_scope(kwargs["merchant"].id):
            return super()._create(model_class, *args, **kwargs)


class MembershipFactory(TenantFactory):
    class Meta:
        model = Membership

    merchant = factory.SubFactory(MerchantFactory)
    user = factory.SubFactory(UserFactory)
    role = "host"


# --- commerce and rooms -------------------------------------------------------------------


class ProductFactory(TenantFactory):
    """A product; `stock=N` (default 10) gives it one default variant with N units, or pass
    `variants=[{"options": {...}, "stock": n}, …]`."""

    class Meta:
        model = "commerce.Product"
        skip_postgeneration_save = True

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    price = 1900

    @factory.post_generation
    def stock(obj: Any, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create:
            return
        from commerce.models import Variant

        specs = getattr(obj, "_variant_specs", None) or [
            {"stock": 10 if extracted is None else extracted}
        ]
        with tenant_scope(obj.merchant_id):
            for i, spec in enumerate(specs):
                Variant.objects.create(merchant_id=obj.merchant_id, product=obj, position=i, **spec)

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        variants = kwargs.pop("variants", None)
        obj = super()._create(model_class, *args, **kwargs)
        obj._variant_specs = variants
        return obj


class RoomFactory(TenantFactory):
    class Meta:
        model = "rooms.Room"

    merchant = factory.SubFactory(MerchantFactory)
    slug = factory.Sequence(lambda n: f"room-{n}")
    title = factory.Sequence(lambda n: f"Room {n}")
    host = factory.SubFactory(UserFactory)

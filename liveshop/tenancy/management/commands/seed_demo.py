"""`manage.py seed_demo [--shoppers N]`: the demo data of the public contract.

Adds what is missing and resets nothing. Merchants `demo` and `rival`; per merchant
owner@/host@/agent@<m>.test; shoppers shopper1..N@example.test; password `liveshop-demo`.
Apps add their own part (catalog, rooms, gifts…) through `AppConfig.seed_demo(seed)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from liveshop.accounts.models import User
from liveshop.tenancy.models import Membership, Merchant, Plan
from liveshop.tenancy.permissions import Role
from liveshop.tenancy.scope import tenant_scope

PASSWORD = "liveshop-demo"
ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]
MERCHANTS = {
    "demo": {"name": "Demo Boutique", "currency": "USD", "locale": "en", "timezone": "UTC"},
    "rival": {
        "name": "Rival Outfitters",
        "currency": "USD",
        "locale": "en",
        "timezone": "Asia/Shanghai",
    },
}
STAFF = [
    ("owner", Role.OWNER, "Olivia Owner"),
    ("host", Role.HOST, "Harper Host"),
    ("agent", Role.AGENT, "Alex Agent"),
]


@dataclass
class DemoSeed:
    """What seed hooks receive: the merchants, their staff by role name, the shoppers."""

    merchants: dict[str, Merchant] = field(default_factory=dict)
    staff: dict[str, dict[str, User]] = field(default_factory=dict)
    shoppers: list[User] = field(default_factory=list)
    log: Any = print


def user_ensure(email: str, display_name: str, **extra: Any) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(
            email=email, password=PASSWORD, display_name=display_name, **extra
        )
    return user


class Command(BaseCommand):
    help = "Add the demo merchants, staff, shoppers and each app's demo data (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--shoppers", type=int, default=5, help="number of demo shoppers (default 5)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["shoppers"]
        if count < 0 or count > 100_000:
            self.stderr.write("--shoppers must be between 0 and 100000")
            raise SystemExit(2)
        seed = DemoSeed(log=lambda msg: self.stdout.write(f"  {msg}"))
        with transaction.atomic():
            plan = Plan.objects.get(code="growth")
            for slug, values in MERCHANTS.items():
                merchant = Merchant.objects.filter(slug=slug).first()
                if merchant is None:
                    merchant = Merchant.objects.create(
                        slug=slug, plan=plan, allowed_origins=ORIGINS, **values
                    )
                seed.merchants[slug] = merchant
                seed.staff[slug] = {}
                for name, role, display in STAFF:
                    user = user_ensure(f"{name}@{slug}.test", f"{display} ({slug})")
                    with tenant_scope(merchant.id):
                        Membership.objects.get_or_create(
                            merchant=merchant, user=user, defaults={"role": role}
                        )
                    seed.staff[slug][name] = user
            existing = set(
                User.objects.filter(email__endswith="@example.test").values_list("email", flat=True)
            )
            new = [
                User(email=f"shopper{i}@example.test", display_name=f"Shopper {i}")
                for i in range(1, count + 1)
                if f"shopper{i}@example.test" not in existing
            ]
            if new:
                hashed = User(email="x@x")
                hashed.set_password(PASSWORD)  # one hash for all: bulk seeding thousands stays fast
                for user in new:
                    user.password = hashed.password
                User.objects.bulk_create(new, batch_size=1000)
            seed.shoppers = list(
                User.objects.filter(
                    email__in=[f"shopper{i}@example.test" for i in range(1, count + 1)]
                ).order_by("id")
            )
            user_ensure("admin@liveshop.test", "Platform Admin", is_staff=True, is_superuser=True)
            for config in apps.get_app_configs():
                hook = getattr(config, "seed_demo", None)
                if hook is not None:
                    hook(seed)
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_demo: merchants {', '.join(seed.merchants)}; {len(seed.shoppers)} shoppers; password {PASSWORD}"
            )
        )

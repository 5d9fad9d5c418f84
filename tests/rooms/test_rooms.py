"""Rooms: services, the merchant and storefront API, dashboard pages, the plan's live limit,
and the demo seed."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.test import Client

from commerce.models import Product
from liveshop.errors import Conflict, PlanLimitReached
from liveshop.tenancy.access import Actor
from liveshop.tenancy.scope import tenant_scope
from rooms import services
from rooms.models import Room, RoomProduct
from rooms.protocol import event_problems
from tests.commerce.conftest import isolated, refused
from tests.conftest import error_code
from tests.factories import PASSWORD, ProductFactory, RoomFactory

pytestmark = pytest.mark.django_db

ROOMS = "/api/v1/merchants/acme/rooms"


def as_actor(user, merchant, role):
    return Actor(merchant=merchant, user=user, role=role)


@pytest.fixture
def room(merchant, host):
    return RoomFactory(merchant=merchant, slug="launch", title="Launch", host=host)


class TestServices:
    def test_create_set_lineup_go_live_end(self, merchant, host, product, sized):
        actor = as_actor(host, merchant, "host")
        room = services.room_create(actor=actor, data={"slug": "spring", "title": "Spring drop"})
        assert room.host_id == host.pk and room.status == "scheduled"
        services.room_lineup_set(
            actor=actor, room=room, product_ids=[sized.pk, product.pk, sized.pk]
        )
        with tenant_scope(merchant.id):
            order = list(RoomProduct.objects.filter(room=room).values_list("product_id", flat=True))
        assert order == [sized.pk, product.pk]
        assert services.room_go_live(actor=actor, room=room).status == "live"
        assert services.room_end(actor=actor, room=room).status == "ended"
        with refused(Conflict):
            services.room_go_live(actor=actor, room=room)

    def test_go_live_and_end_tell_the_room(
        self, merchant, host, django_capture_on_commit_callbacks, monkeypatch, published
    ):
        import media.services

        closed = []
        monkeypatch.setattr(media.services, "room_video_close", lambda *, room: closed.append(room))
        actor = as_actor(host, merchant, "host")
        room = RoomFactory(merchant=merchant, host=host)
        with django_capture_on_commit_callbacks(execute=True):
            services.room_go_live(actor=actor, room=room)
        with django_capture_on_commit_callbacks(execute=True):
            services.room_end(actor=actor, room=room)
        events = [e for key, e in published if key == str(room.pk)]
        states = [(e["status"], e["host"]) for e in events if e["type"] == "room.state"]
        expected_host = {"id": host.pk, "name": host.display_name}
        assert states == [("live", expected_host), ("ended", expected_host)]
        for event in events:
            assert event_problems(event) == [], event
        assert closed == [room]

    def test_plan_limit_on_live_rooms(self, merchant, host):
        actor = as_actor(host, merchant, "host")
        with tenant_scope(merchant.id):
            merchant.plan.rooms_live = 1
            merchant.plan.save()
        one = RoomFactory(merchant=merchant, host=host)
        two = RoomFactory(merchant=merchant, host=host)
        services.room_go_live(actor=actor, room=one)
        with refused(PlanLimitReached) as info:
            services.room_go_live(actor=actor, room=two)
        assert (
            "allows 1 live room" in info.value.message
            and info.value.extra["resource"] == "rooms_live"
        )
        services.room_end(actor=actor, room=one)
        assert services.room_go_live(actor=actor, room=two).status == "live"

    def test_bad_input(self, merchant, owner, agent, foreign_product):
        actor = as_actor(owner, merchant, "owner")
        for data, field in [
            ({"slug": "Bad Slug", "title": "x"}, "slug"),
            ({"slug": "new", "title": "x"}, "slug"),
            ({"slug": "ok", "title": ""}, "title"),
            ({"slug": "ok", "title": "x", "cover": "ftp://x"}, "cover"),
            ({"slug": "ok", "title": "x", "host": agent.pk}, "host"),  # agents do not host
            ({"slug": "ok", "title": "x", "mood": "happy"}, "mood"),
        ]:
            with refused(ValidationError) as info:
                services.room_create(actor=actor, data=data)
            assert field in info.value.message_dict, data
        room = services.room_create(actor=actor, data={"slug": "ok", "title": "x"})
        with refused(ValidationError):
            services.room_lineup_set(actor=actor, room=room, product_ids=[foreign_product.pk])
        with refused(ValidationError):
            services.room_create(actor=actor, data={"slug": "ok", "title": "dup"})

    def test_agents_cannot_manage_rooms(self, merchant, agent, room):
        with refused(PermissionDenied):
            services.room_create(
                actor=as_actor(agent, merchant, "agent"), data={"slug": "x1", "title": "x"}
            )
        with refused(PermissionDenied):
            services.room_go_live(actor=as_actor(agent, merchant, "agent"), room=room)


class TestApi:
    def test_create_with_lineup_and_read_by_slug(self, api, owner, host, merchant, product):
        response = api(owner).post(
            ROOMS,
            {"slug": "friday", "title": "Friday live", "host": host.pk, "products": [product.pk]},
            format="json",
        )
        assert response.status_code == 201, response.json()
        assert response.json()["products"] == [product.pk]
        detail = api(owner).get(f"{ROOMS}/friday").json()
        assert detail["host"]["id"] == host.pk and detail["status"] == "scheduled"

    def test_go_live_end_and_plan_limit_message(self, api, host, merchant, room):
        with tenant_scope(merchant.id):
            merchant.plan.rooms_live = 0
            merchant.plan.save()
        refused_live = api(host).post(f"{ROOMS}/launch/go-live")
        assert refused_live.status_code == 403 and error_code(refused_live) == "plan_limit"
        with tenant_scope(merchant.id):
            merchant.plan.rooms_live = 1
            merchant.plan.save()
        assert api(host).post(f"{ROOMS}/launch/go-live").json()["status"] == "live"
        assert api(host).post(f"{ROOMS}/launch/end").json()["status"] == "ended"

    def test_lineup_put(self, api, owner, room, product, sized):
        response = api(owner).put(
            f"{ROOMS}/launch/lineup", {"products": [sized.pk, product.pk]}, format="json"
        )
        assert response.json()["products"] == [sized.pk, product.pk]
        bad = api(owner).put(f"{ROOMS}/launch/lineup", {"products": "all"}, format="json")
        assert bad.status_code == 400

    def test_roles_outsiders_anonymous(self, api, agent, outsider, merchant, room):
        assert api().get(ROOMS).status_code == 401
        assert api(agent).get(ROOMS).status_code == 200
        assert (
            api(agent).post(ROOMS, {"slug": "x2", "title": "x"}, format="json").status_code == 403
        )
        assert api(agent).post(f"{ROOMS}/launch/go-live").status_code == 403
        for method, url in [
            ("get", ROOMS),
            ("get", f"{ROOMS}/launch"),
            ("patch", f"{ROOMS}/launch"),
            ("delete", f"{ROOMS}/launch"),
            ("post", f"{ROOMS}/launch/go-live"),
            ("put", f"{ROOMS}/launch/lineup"),
        ]:
            assert getattr(api(outsider), method)(url, {}, format="json").status_code == 404, url
        with tenant_scope(merchant.id):
            assert Room.objects.get(pk=room.pk).status == "scheduled"

    def test_bad_input(self, api, owner, merchant):
        for body in (
            {"slug": "UPPER", "title": "x"},
            {"title": "x"},
            {"slug": "a1", "title": "x", "host": "me"},
            ["x"],
        ):
            response = api(owner).post(ROOMS, body, format="json")
            assert response.status_code == 400, body

    def test_storefront_rooms(self, api, merchant, host, product):
        live = RoomFactory(merchant=merchant, slug="now", host=host, status="live")
        RoomFactory(merchant=merchant, slug="soon", host=host)
        RoomFactory(merchant=merchant, slug="past", host=host, status="ended")
        hidden = ProductFactory(merchant=merchant, is_active=False)
        with tenant_scope(merchant.id):
            RoomProduct.objects.create(merchant=merchant, room=live, product=product, position=0)
            RoomProduct.objects.create(merchant=merchant, room=live, product=hidden, position=1)
        listed = api().get("/api/v1/s/acme/rooms").json()
        assert [r["slug"] for r in listed["results"]] == ["now", "soon"]
        detail = api().get("/api/v1/s/acme/rooms/now").json()
        assert [p["id"] for p in detail["lineup"]] == [product.pk]
        assert detail["lineup"][0]["stock"] == 10
        assert api().get("/api/v1/s/acme/rooms/nope").status_code == 404


class TestPages:
    def login(self, user):
        client = Client()
        client.login(username=user.email, password=PASSWORD)
        return client

    def test_host_creates_and_goes_live(self, merchant, host, product):
        client = self.login(host)
        created = client.post(
            "/dashboard/acme/rooms/new/", {"title": "Evening", "slug": "evening", "host": host.pk}
        )
        assert created["Location"] == "/dashboard/acme/rooms/evening/"
        client.post(
            "/dashboard/acme/rooms/evening/lineup/",
            {"product": [product.pk], f"position-{product.pk}": "1"},
        )
        client.post("/dashboard/acme/rooms/evening/status/", {"action": "live"})
        html = client.get("/dashboard/acme/rooms/evening/").content.decode()
        assert 'data-status="live"' in html and 'data-test="room-end"' in html
        with tenant_scope(merchant.id):
            assert RoomProduct.objects.filter(room__slug="evening").count() == 1

    def test_agent_reads_only_and_outsider_404(self, merchant, agent, outsider, room):
        html = self.login(agent).get("/dashboard/acme/rooms/launch/").content.decode()
        assert 'data-test="room-go-live"' not in html and 'data-test="lineup-form"' not in html
        assert self.login(agent).get("/dashboard/acme/rooms/new/").status_code == 403
        assert isolated(self.login(outsider).get, "/dashboard/acme/rooms/").status_code == 404


def test_seed_demo_adds_catalog_and_launch_room_once():
    for _ in range(2):
        call_command("seed_demo", shoppers=1, stdout=io.StringIO())
    from liveshop.tenancy.models import Merchant

    for slug, count in (("demo", 12), ("rival", 4)):
        merchant = Merchant.objects.get(slug=slug)
        with tenant_scope(merchant.id):
            assert Product.objects.filter(merchant=merchant).count() == count
            room = Room.objects.get(merchant=merchant, slug="launch")
            assert room.status == "live" and room.host.email == f"host@{slug}.test"
            assert RoomProduct.objects.filter(room=room).count() == min(6, count)
    demo = Merchant.objects.get(slug="demo")
    with tenant_scope(demo.id):
        tee = Product.objects.get(sku="DM-TEE-01")
        red_s = tee.variants.get(options__color="red", options__size="S")
        assert (red_s.stock, red_s.label, red_s.label_zh) == (0, "red / S", "红色 / S")
        assert sum(v.stock for v in tee.variants.all()) == 4 * (40 + 30)

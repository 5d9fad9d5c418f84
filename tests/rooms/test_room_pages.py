import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_pages(settings):
    from django.core.management import call_command

    from tests.factories import plan_default

    plan_default()
    call_command("seed_demo", verbosity=0)
    assert Client().get("/s/demo/live/launch/").status_code == 200
    assert Client().get("/s/demo/live/nope/").status_code == 404
    c = Client()
    c.login(username="host@demo.test", password="liveshop-demo")
    assert c.get("/dashboard/demo/rooms/launch/console/").status_code == 200
    c2 = Client()
    c2.login(username="agent@demo.test", password="liveshop-demo")
    assert c2.get("/dashboard/demo/rooms/launch/console/").status_code == 403

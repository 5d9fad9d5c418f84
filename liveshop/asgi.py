"""ASGI entry point: Django for HTTP, Channels consumers for WebSockets, and a lifespan hook
that starts the in-process scheduler in the embedded default."""

import logging
import os
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler, but the middleware chain and the (sync) view run together in the
    request's thread.

    Stock Django under ASGI runs the chain in async mode, where every `MiddlewareMixin`
    middleware hands `process_request` and `process_response` to a thread and back: ~16
    thread hand-overs per request for our nine middlewares, plus one for the view. Loaded in
    sync mode, the whole chain is one hand-over. Measured on the 2-core box: about half the
    CPU per API request (bench/flash_sale.py). Async views still work (Django adapts them);
    WebSockets do not come through here."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # thread_sensitive: the same per-request thread later runs response.close(), where
        # request_finished gives the database connection back to the pool.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


django.setup(set_prefix=False)
django_asgi_app = SyncChainASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from commerce.fastpath import SoldOutGate  # noqa: E402
from liveshop.routing import websocket_urlpatterns  # noqa: E402


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Start this process' room engine (hubs, bulk persist, likes, presence) and, in the
    embedded default, the scheduler; stop them on shutdown (viewers get 1001 and resume).
    Servers without lifespan (daphne) start the engine with the first room socket."""
    from rooms.realtime.engine import get_engine

    scheduler = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if os.environ.get("LIVESHOP_SCHEDULER") == "inprocess":
                from liveshop.ops.scheduler import InProcessScheduler

                scheduler = InProcessScheduler()
                scheduler.start()
            get_engine().start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await get_engine().aclose()
            except Exception:
                logging.getLogger("liveshop.rooms.realtime").exception("engine stop failed")
            if scheduler is not None:
                scheduler.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        # The sold-out gate answers a flash-sale stampede before Django (commerce/fastpath.py).
        "http": SoldOutGate(django_asgi_app),
        # Origin is checked per merchant inside each consumer (the contract's allowed origins).
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
        "lifespan": lifespan,
    }
)

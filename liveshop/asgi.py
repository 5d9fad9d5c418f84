"""ASGI entry point: Django for HTTP, Channels consumers for WebSockets, and a lifespan hook
that starts the in-process scheduler in the embedded default."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from liveshop.routing import websocket_urlpatterns  # noqa: E402


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scheduler = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if os.environ.get("LIVESHOP_SCHEDULER") == "inprocess":
                from liveshop.ops.scheduler import InProcessScheduler

                scheduler = InProcessScheduler()
                scheduler.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if scheduler is not None:
                scheduler.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin is checked per merchant inside each consumer (the contract's allowed origins).
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
        "lifespan": lifespan,
    }
)

"""/docs/realtime/: the room WebSocket protocol, rendered from rooms/protocol.py (the same
schemas the consumer validates against, so the page cannot drift from the code)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import protocol


def _entries(schemas: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "type": name,
            "description": schema.get("description", ""),
            "required": [r for r in schema.get("required", []) if r != "type"],
            "foldable": bool(schema.get("x-foldable")),
            "schema": json.dumps(schema, indent=2, ensure_ascii=False),
        }
        for name, schema in schemas.items()
    ]


@require_GET
def realtime_protocol(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "docs/realtime.html",
        {
            "client_frames": _entries(protocol.CLIENT_FRAMES),
            "server_frames": _entries(protocol.SERVER_FRAMES),
            "events": _entries(protocol.EVENTS),
            "close_codes": sorted(protocol.CLOSE_CODES.items()),
            "chat_max": protocol.CHAT_MAX_CHARS,
        },
    )

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class MediaConfig(AppConfig):
    """Live video: relay processes that forward encoded media (media/README.md)."""

    name = "media"
    label = "media"
    verbose_name = "Media"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import ice  # noqa: F401 - registers the ICE settings check

    def serve_processes(self, *, python: str, host: str, port: int) -> list[tuple[str, list[str]]]:
        """`manage.py serve` (make run) starts the media relay beside the web server."""
        argv = [python, str(settings.BASE_DIR / "manage.py"), "media_relay"]
        workers = settings.LIVESHOP_MEDIA_RELAY_WORKERS
        if workers > 1:
            argv += ["--workers", str(workers)]
        return [("relay", argv)]

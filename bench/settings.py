"""The product's settings plus the bench-only URLs (the naive baseline endpoint). Nothing
else differs from what `make run` serves."""

from liveshop.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

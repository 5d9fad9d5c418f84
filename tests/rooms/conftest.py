# The commerce fixtures (products with stock) serve the room tests too.
from tests.commerce.conftest import _fresh_gate, foreign_product, product, sized  # noqa: F401

# The room socket's engine fixture serves the selling socket tests too.
from tests.rooms.test_consumer import engine  # noqa: F401

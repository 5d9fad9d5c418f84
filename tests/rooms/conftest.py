# The commerce fixtures (products with stock) serve the room tests too.
from tests.commerce.conftest import _fresh_gate, foreign_product, product, sized  # noqa: F401

"""The shopping assistant engine: pure Python, no Django, no network by default.

See assistant/README.md. The public surface is re-exported from `assistant`.
"""

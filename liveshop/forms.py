"""Form helpers shared by the dashboard and storefront pages."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from liveshop.errors import DomainError


def form_errors(form: Any, exc: ValidationError | DomainError) -> None:
    """Show a service's refusal on the form: field errors on their fields (a dotted name such
    as `lines.0.quantity` on its last part), the rest above the form."""
    if isinstance(exc, DomainError):
        form.add_error(None, exc.message)
    elif hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            name = field.rsplit(".", 1)[-1]
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)

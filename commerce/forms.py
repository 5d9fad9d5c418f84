"""Page forms. They shape input for the services, which hold the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import MAX_STOCK
from .money import exponent, money_parse


class AddressForm(forms.Form):
    name = forms.CharField(label=_("Full name"), max_length=120)
    line1 = forms.CharField(label=_("Address"), max_length=200)
    line2 = forms.CharField(label=_("Apartment, suite (optional)"), max_length=200, required=False)
    city = forms.CharField(label=_("City"), max_length=100)
    region = forms.CharField(label=_("State / province"), max_length=100, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20, required=False)
    country = forms.CharField(
        label=_("Country code"),
        max_length=2,
        min_length=2,
        help_text=_("Two letters, e.g. US, CN, GB"),
    )
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs["data-test"] = f"address-{name}"
            field.widget.attrs.setdefault("autocomplete", _AUTOCOMPLETE.get(name, "on"))


_AUTOCOMPLETE = {
    "name": "name",
    "line1": "address-line1",
    "line2": "address-line2",
    "city": "address-level2",
    "region": "address-level1",
    "postal_code": "postal-code",
    "country": "country",
    "phone": "tel",
}


def address_form_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put the service's `shipping_address.city`-style errors on the form's fields."""
    if not hasattr(exc, "error_dict"):
        return
    for key, errors in exc.message_dict.items():
        field = key.rsplit(".", 1)[-1]
        if field in form.fields and key.startswith(("shipping_address.", "address.")):
            form.add_error(field, errors)


class MoneyField(forms.CharField):
    """An amount typed in major units ("19.90"), cleaned to minor units for `currency`."""

    def __init__(self, *, currency: str, **kwargs: Any) -> None:
        self.currency = currency
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "decimal", "pattern": r"[0-9]+([.,][0-9]+)?"})

    def clean(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().clean(value)
        if not text:
            return None
        try:
            amount = money_parse(text, self.currency)
        except ValueError:
            places = exponent(self.currency)
            raise ValidationError(
                _("Give an amount like %(example)s.")
                % {"example": "19" if not places else "19." + "9" * places}
            ) from None
        if amount < 0:
            raise ValidationError(_("The amount cannot be negative."))
        return amount


def money_initial(amount: int | None, currency: str) -> str:
    if amount is None:
        return ""
    places = exponent(currency)
    return f"{amount / 10**places:.{places}f}"


class ProductForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    name_zh = forms.CharField(label=_("Name (Chinese)"), max_length=200, required=False)
    sku = forms.CharField(label=_("SKU"), max_length=64, required=False)
    category = forms.CharField(label=_("Category"), max_length=60, required=False)
    description = forms.CharField(
        label=_("Description"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    description_zh = forms.CharField(
        label=_("Description (Chinese)"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    material = forms.CharField(label=_("Material"), max_length=200, required=False)
    images = forms.CharField(
        label=_("Image URLs"),
        required=False,
        max_length=5500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One http(s) URL per line, at most 10."),
    )
    purchase_limit = forms.IntegerField(
        label=_("Limit per shopper"),
        min_value=1,
        max_value=10000,
        required=False,
        help_text=_("Most units one shopper may hold in open orders; empty for no limit."),
    )
    is_active = forms.BooleanField(label=_("On sale"), required=False, initial=True)

    def __init__(self, *args: Any, currency: str, creating: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["price"] = MoneyField(
            currency=currency, label=_("Price (%(currency)s)") % {"currency": currency}
        )
        if creating:
            self.fields["stock"] = forms.IntegerField(
                label=_("Units in stock"),
                min_value=0,
                max_value=MAX_STOCK,
                initial=0,
                help_text=_("Add sizes or colours after creating the product."),
            )
        order = ["name", "price", "stock", "sku", "category", "name_zh", "description"]
        self.order_fields(order)

    def clean_images(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["images"].splitlines() if line.strip()]

    def product_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("stock", None)
        return data


class VariantForm(forms.Form):
    color = forms.CharField(label=_("Colour"), max_length=60, required=False)
    size = forms.CharField(label=_("Size"), max_length=60, required=False)
    sku = forms.CharField(label=_("SKU"), max_length=64, required=False)
    stock = forms.IntegerField(label=_("In stock"), min_value=0, max_value=MAX_STOCK)
    is_active = forms.BooleanField(label=_("On sale"), required=False, initial=True)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["price"] = MoneyField(
            currency=currency,
            label=_("Own price (%(currency)s)") % {"currency": currency},
            required=False,
            help_text=_("Empty: the product's price."),
        )

    def variant_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        options = {k: data[k].strip() for k in ("color", "size") if data.get(k, "").strip()}
        return {
            "options": options,
            "sku": data["sku"],
            "stock": data["stock"],
            "price": data.get("price"),
            "is_active": data["is_active"],
        }


class StockAdjustForm(forms.Form):
    delta = forms.IntegerField(label=_("Add units"), min_value=-MAX_STOCK, max_value=MAX_STOCK)

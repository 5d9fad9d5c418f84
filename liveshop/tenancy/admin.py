"""The platform operator's view. Reads of tenant tables here go through the audited bypass."""

from django.contrib import admin

from .models import Merchant, Plan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "staff_seats",
        "rooms_live",
        "webrtc_viewers_per_room",
        "stream_minutes_month",
        "api_rate_per_min",
        "price_month",
    ]


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "plan", "currency", "is_active", "created_at"]
    list_filter = ["plan", "is_active"]
    search_fields = ["slug", "name"]

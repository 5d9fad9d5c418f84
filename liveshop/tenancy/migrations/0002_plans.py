from django.db import migrations

PLANS = [
    # code, name, staff, rooms live, webrtc viewers/room, stream min/month, api/min, price
    ("starter", "Starter", 5, 1, 200, 3000, 600, 0),
    ("growth", "Growth", 25, 5, 1000, 30000, 3000, 29900),
    ("enterprise", "Enterprise", 500, 50, 5000, 1000000, 30000, 199900),
]


def add_plans(apps, schema_editor):
    Plan = apps.get_model("tenancy", "Plan")
    for code, name, staff, rooms, viewers, minutes, api, price in PLANS:
        Plan.objects.update_or_create(
            code=code,
            defaults=dict(name=name, staff_seats=staff, rooms_live=rooms, webrtc_viewers_per_room=viewers,
                          stream_minutes_month=minutes, api_rate_per_min=api, price_month=price),
        )


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0001_initial")]
    operations = [migrations.RunPython(add_plans, migrations.RunPython.noop)]

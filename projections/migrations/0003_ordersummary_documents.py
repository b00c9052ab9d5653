from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projections", "0002_projectioncheckpoint_rebuild_requested_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="ordersummary",
            name="document",
            field=models.TextField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="ordersummary",
            name="document_without_notes",
            field=models.TextField(blank=True, editable=False, null=True),
        ),
    ]

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projections", "0003_translatable_names"),
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

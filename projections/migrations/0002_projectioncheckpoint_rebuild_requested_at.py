from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projections", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="projectioncheckpoint",
            name="rebuild_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]

import django.db.models.functions.datetime
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0006_translatable_names")]

    operations = [
        migrations.CreateModel(
            name="SiteAdoption",
            fields=[
                ("site", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("adopted_by", models.CharField(max_length=64)),
                ("adopted_at", models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
            ],
            options={"verbose_name": "site adoption", "verbose_name_plural": "site adoptions"},
        ),
    ]

from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Disaster recovery"

    def ready(self) -> None:
        from recovery import checks  # noqa: F401  # registers the key-format system checks

from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Disaster recovery"

    def ready(self) -> None:
        # The key-format system checks; EraseCustomerData's handler and shredding on the command bus.
        from recovery import checks, erasure  # noqa: F401

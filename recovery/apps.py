from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Disaster recovery"

    def ready(self) -> None:
        from orders import codec
        from recovery import checks  # noqa: F401  # registers the key-format system checks
        from recovery.personal_data import PersonalDataCodec

        codec.install(PersonalDataCodec())  # the event store seals personal fields from now on

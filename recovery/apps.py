from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Disaster recovery"

    def ready(self) -> None:
        from orders import codec
        from recovery import checks, erasure  # noqa: F401  # key checks; EraseCustomerData on the bus
        from recovery.personal_data import PersonalDataCodec

        codec.install(PersonalDataCodec())  # the event store seals personal fields from now on

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = _("Disaster recovery")

    def ready(self) -> None:
        from config.metrics import SCRAPED
        from orders import codec
        from projections.dashboard import BACKUP_FIGURE
        from recovery import checks, erasure  # noqa: F401  # key checks; EraseCustomerData on the bus
        from recovery.dashboard import backup_recovery_point
        from recovery.metrics import BackupCollector
        from recovery.personal_data import PersonalDataCodec

        codec.install(PersonalDataCodec())  # the event store seals personal fields from now on
        SCRAPED.append(BackupCollector())
        BACKUP_FIGURE.append(backup_recovery_point)

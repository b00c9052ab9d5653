from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MultisiteConfig(AppConfig):
    name = "multisite"
    verbose_name = _("Multi-site replication")

    def ready(self) -> None:
        from config.metrics import SCRAPED
        from multisite import checks  # noqa: F401  # system checks
        from multisite.dashboard import replication_figure
        from multisite.metrics import ReplicationCollector
        from projections.dashboard import REPLICATION_FIGURE

        SCRAPED.append(ReplicationCollector())
        if replication_figure not in REPLICATION_FIGURE:
            REPLICATION_FIGURE.append(replication_figure)

from django.apps import AppConfig


class MultisiteConfig(AppConfig):
    name = "multisite"
    verbose_name = "Multi-site replication"

    def ready(self) -> None:
        from config.metrics import SCRAPED
        from multisite import checks  # noqa: F401  # system checks
        from multisite.metrics import ReplicationCollector

        SCRAPED.append(ReplicationCollector())

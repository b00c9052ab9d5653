from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Catalogue and event log")

    def ready(self) -> None:
        # Load the Celery app so shared tasks bind to it in web processes too.
        import config.celery  # noqa: F401
        from orders.signals import count_committed_events, events_committed

        events_committed.connect(count_committed_events, dispatch_uid="orders.count_events")

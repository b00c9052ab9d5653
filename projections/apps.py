from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectionsConfig(AppConfig):
    name = "projections"
    verbose_name = _("Orders and reports")

    def ready(self) -> None:
        from config.metrics import SCRAPED
        from orders.signals import events_committed
        from projections import checks, expiry  # noqa: F401  # system checks; expiry's Celery task
        from projections.metrics import HorizonCollector, ProjectionCollector
        from projections.signals import nudge_projections

        events_committed.connect(nudge_projections, dispatch_uid="projections.nudge")
        SCRAPED.extend([ProjectionCollector(), HorizonCollector()])

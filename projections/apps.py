from django.apps import AppConfig


class ProjectionsConfig(AppConfig):
    name = "projections"
    verbose_name = "Projections (read side)"

    def ready(self) -> None:
        from orders.signals import events_committed
        from projections import checks  # noqa: F401  # registers the system checks
        from projections.signals import nudge_projections

        events_committed.connect(nudge_projections, dispatch_uid="projections.nudge")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = _("Outbound subscriptions")

    def ready(self) -> None:
        from config.metrics import SCRAPED
        from orders.signals import events_committed
        from projections.dashboard import WEBHOOK_FIGURE
        from subscriptions import rules  # noqa: F401  # permissions
        from subscriptions.metrics import SubscriptionCollector
        from subscriptions.signals import nudge_subscriptions
        from subscriptions.status import dashboard_figure

        events_committed.connect(nudge_subscriptions, dispatch_uid="subscriptions.nudge")
        SCRAPED.append(SubscriptionCollector())
        WEBHOOK_FIGURE.append(dashboard_figure)

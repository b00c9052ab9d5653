from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders (write side)"

    def ready(self) -> None:
        # Load the Celery app so shared tasks bind to it in web processes too.
        import config.celery  # noqa: F401

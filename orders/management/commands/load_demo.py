"""Demo data for a fresh installation: products and one user per role, created once."""

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.roles import Role
from accounts.services import create_user
from orders.models import Product

DEMO_PRODUCTS = [
    ("TEE-BLK-M", "Black T-shirt, M", 1999, 500),
    ("TEE-WHT-L", "White T-shirt, L", 1999, 500),
    ("MUG-LOGO", "Logo mug", 1250, 200),
    ("CAP-NAVY", "Navy cap", 2400, 150),
    ("HOODIE-GRY-M", "Grey hoodie, M", 4900, 80),
    ("STICKER-PACK", "Sticker pack", 499, 1000),
    ("POSTER-A2", "Poster A2", 1500, 5),
    ("TOTE-BAG", "Tote bag", 1800, 120),
]


class Command(BaseCommand):
    help = "Load demo products and one user per role (once); print the demo users' credentials."

    def handle(self, *args: object, **options: Any) -> None:
        credentials = Path(settings.BASE_DIR) / "var" / "demo-users.txt"
        if get_user_model().objects.filter(username="manager").exists():
            self.stdout.write("Demo data already loaded.")
        else:
            lines = self._load()
            credentials.parent.mkdir(parents=True, exist_ok=True)
            credentials.write_text("".join(f"{line}\n" for line in lines))
            credentials.chmod(0o600)
        if credentials.exists():
            self.stdout.write("Demo users (username / password / role):")
            self.stdout.write(credentials.read_text())

    @transaction.atomic
    def _load(self) -> list[str]:
        for sku, name, price, stock in DEMO_PRODUCTS:
            Product.objects.update_or_create(
                sku=sku, defaults={"name": name, "unit_price": price, "stock_on_hand": stock, "active": True}
            )
        lines = []
        for role in Role:
            password = secrets.token_urlsafe(12)
            create_user(
                username=role.value,
                role=role,
                password=password,
                email=f"{role.value}@example.com",
                first_name=role.value.title(),
                last_name="Demo",
            )
            lines.append(f"  {role.value:<12} {password:<20} {role.value}")
        return lines

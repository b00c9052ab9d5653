"""Users with API tokens, and products with stock for every order the bench will place."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from accounts.roles import STAFF_ROLES, Role
from bench.phases import Params
from orders.models import Product


def _user(username: str, role: Role) -> tuple[Any, str]:
    # No password: the bench authenticates with tokens, and hashing one costs ~0.5 s of CPU per user.
    user = get_user_model()(
        username=username, email=f"{username}@example.com", first_name="Bench", last_name=role.value.title()
    )
    user.is_staff = role in STAFF_ROLES
    user.set_unusable_password()
    user.save()
    user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user, Token.objects.create(user=user).key


def run(params: Params) -> dict[str, Any]:
    customers = [_user(f"bench-customer-{i}", Role.CUSTOMER) for i in range(params.get("customers", 32))]
    manager, manager_token = _user("bench-manager", Role.MANAGER)
    products = [
        Product(sku=f"BENCH-{i:03d}", name=f"Bench product {i}", unit_price=500 + 37 * i, stock_on_hand=10**9)
        for i in range(params.get("products", 50))
    ]
    Product.objects.bulk_create(products)
    return {
        "customer_ids": [user.pk for user, _ in customers],
        "customer_tokens": [token for _, token in customers],
        "manager_id": manager.pk,
        "manager_token": manager_token,
        "skus": [product.sku for product in products],
    }

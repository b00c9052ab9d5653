"""The order detail as a DRF user writes it by the book, for comparison (served only by bench.settings).

``RetrieveAPIView`` over the same read table with a ``ModelSerializer``, DRF's own
``TokenAuthentication``, ``IsAuthenticated`` plus the object check (the same ``orders.view_order`` rule,
through ``user.has_perm``), and DRF's ``UserRateThrottle`` on Django's Redis cache. Nothing of the
product's request path (token cache, stored documents, orjson, token bucket) is used.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from rest_framework import generics, permissions, serializers
from rest_framework.authentication import TokenAuthentication
from rest_framework.renderers import JSONRenderer
from rest_framework.throttling import UserRateThrottle

from projections.models import OrderSummary


class PeerOrderSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderSummary
        exclude = ["document", "document_without_notes", "customer_name", "customer_email", "last_position"]


class CanViewOrder(permissions.BasePermission):
    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return bool(request.user.has_perm("orders.view_order", obj))


class PeerThrottle(UserRateThrottle):
    cache = caches["default"]  # Django's RedisCache, as DRF's docs set it up
    rate = "1000000/second"  # raised like the product's throttle in the bench, still consulted


class PeerOrderDetailView(generics.RetrieveAPIView):
    queryset = OrderSummary.objects.all()
    serializer_class = PeerOrderSerializer
    authentication_classes = [TokenAuthentication]
    permission_classes = [permissions.IsAuthenticated, CanViewOrder]
    throttle_classes = [PeerThrottle]
    renderer_classes = [JSONRenderer]
    lookup_url_kwarg = "order_id"

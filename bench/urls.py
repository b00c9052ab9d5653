"""The product's URLs plus the by-the-book peer (bench/peer.py), for the bench's node only."""

from django.urls import path

from bench.peer import PeerOrderDetailView
from config.urls import urlpatterns as product

urlpatterns = [
    path("bench-peer/orders/<uuid:order_id>/", PeerOrderDetailView.as_view(), name="bench-peer-order"),
    *product,
]

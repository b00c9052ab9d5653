from django.urls import path

from recovery.api import views

urlpatterns = [
    path("customers/<int:customer_id>/erase/", views.EraseCustomerView.as_view(), name="customer-erase"),
]

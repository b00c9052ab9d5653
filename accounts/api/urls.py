from django.urls import path

from accounts.api.views import ObtainTokenView

urlpatterns = [
    path("token/", ObtainTokenView.as_view(), name="auth-token"),
]

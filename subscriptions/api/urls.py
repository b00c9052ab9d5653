from django.urls import path

from subscriptions.api import feed

urlpatterns = [
    path("events/", feed.EventFeedView.as_view(), name="event-feed"),
]

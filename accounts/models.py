from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The platform's user. Roles are Django groups named after ``accounts.roles.Role``."""

    class Meta:
        db_table = "accounts_user"

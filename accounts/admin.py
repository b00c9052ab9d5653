"""Users and roles in the admin (managers only, ``accounts.rules``).

A role is a group (``accounts.roles``); roles are picked as checkboxes, and admin access (``is_staff``)
follows them: staff roles have it, customers do not. Model permissions and the superuser flag are not
offered, since django-rules decides what each role may do. Users are deactivated, not deleted: events
name their actors.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rules.contrib.admin import ObjectPermissionsModelAdminMixin

from accounts.models import User
from accounts.roles import STAFF_ROLES, Role
from config.admin_base import ReadOnlyAdmin, when


class UserChangeForm(auth_forms.UserChangeForm):
    class Meta(auth_forms.UserChangeForm.Meta):
        model = User


class UserCreationForm(auth_forms.AdminUserCreationForm):
    class Meta(auth_forms.AdminUserCreationForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(ObjectPermissionsModelAdminMixin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ("username", "full_name", "email", "roles", "is_active", "last_seen")
    list_filter = ("groups", "is_active")
    filter_horizontal = ()
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Access"), {"fields": ("is_active", "groups", "admin_access")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "groups", "usable_password", "password1", "password2"),
            },
        ),
    )
    readonly_fields = ("admin_access", "last_login", "date_joined")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        if not self.has_view_permission(request):
            return User.objects.none()
        return super().get_queryset(request).prefetch_related("groups")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups":
            kwargs["queryset"] = Group.objects.filter(name__in=[role.value for role in Role]).order_by("name")
            kwargs["widget"] = forms.CheckboxSelectMultiple
            kwargs["help_text"] = _("Staff roles may sign in here; customers use the shop and the API.")
            field = super().formfield_for_manytomany(db_field, request, **kwargs)
            if field is not None:  # None only for a many-to-many through a model of one's own
                field.label = _("Roles")
            return field
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user = form.instance
        staff = user.is_superuser or user.groups.filter(name__in=STAFF_ROLES).exists()
        if user.is_staff != staff:
            User.objects.filter(pk=user.pk).update(is_staff=staff)
            user.is_staff = staff

    @admin.display(description=_("admin access"), boolean=True)
    def admin_access(self, user: User) -> bool:
        """``is_staff``, which follows the roles (see ``save_related``)."""
        return user.is_staff

    @admin.display(description=_("name"), ordering="last_name")
    def full_name(self, user: User) -> str:
        return user.get_full_name()

    @admin.display(description=_("roles"))
    def roles(self, user: User) -> str:
        return ", ".join(sorted(group.name for group in user.groups.all())) or "-"

    @admin.display(description=_("last login"), ordering="last_login")
    def last_seen(self, user: User) -> str:
        return when(user.last_login)


admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(ReadOnlyAdmin):
    """The roles, with how many users hold each. What a role may do is defined in code (rules)."""

    list_display = ("name", "members")
    fields = ("name", "members")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(member_count=Count("user"))

    @admin.display(description=_("users"), ordering="member_count")
    def members(self, group: Group) -> int:
        return group.member_count  # type: ignore[attr-defined]  # annotated by get_queryset above

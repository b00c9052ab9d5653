"""The platform speaks the user's language: LocaleMiddleware picks it from Accept-Language, templates and
user-facing Python texts are marked for translation, and the API's error codes never change with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.test import Client
from django.utils.functional import Promise
from rest_framework.test import APIClient

TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
TEMPLATE_FILES = sorted(TEMPLATES_DIR.rglob("*.html"))
PROJECT_APPS = {"accounts", "orders", "projections", "recovery"}


# --- LocaleMiddleware ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "language, expected, absent",
    [("de", ["Benutzername", "Anmelden"], "Username"), ("en", ["Username", "Log in"], "Benutzername")],
)
def test_the_admin_login_answers_in_the_browsers_language(
    language: str, expected: list[str], absent: str
) -> None:
    response = Client().get("/admin/login/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response["Content-Language"] == language
    text = response.content.decode()
    for word in expected:
        assert word in text, word
    assert absent not in text
    assert f'lang="{language}"' in text


@pytest.mark.django_db
def test_a_language_not_offered_falls_back_to_english() -> None:
    response = Client().get("/admin/login/", HTTP_ACCEPT_LANGUAGE="tlh")
    assert response["Content-Language"] == "en"
    assert "Username" in response.content.decode()


def test_locale_middleware_sits_between_sessions_and_common() -> None:
    order = list(settings.MIDDLEWARE)
    locale = order.index("django.middleware.locale.LocaleMiddleware")
    assert order.index("django.contrib.sessions.middleware.SessionMiddleware") < locale
    assert locale < order.index("django.middleware.common.CommonMiddleware")
    assert ("en", "English") in [(code, str(name)) for code, name in settings.LANGUAGES]
    assert Path(settings.LOCALE_PATHS[0]) == Path(settings.BASE_DIR) / "locale"


# --- API error bodies ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_api_error_keeps_its_code_in_every_language() -> None:
    english = APIClient().get("/api/orders/", HTTP_ACCEPT_LANGUAGE="en")
    german = APIClient().get("/api/orders/", HTTP_ACCEPT_LANGUAGE="de")
    assert english.status_code == german.status_code == 401
    assert english.json()["error"]["code"] == german.json()["error"]["code"] == "not_authenticated"
    # The human text follows the language (DRF ships German), the code does not.
    assert german["Content-Language"] == "de"
    assert german.json()["error"]["message"] != english.json()["error"]["message"]


@pytest.mark.django_db
def test_an_invalid_body_keeps_its_code_and_field_names_in_every_language(customer: Any) -> None:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=customer)
    bodies = {}
    for language in ("en", "de"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        response = client.post(
            "/api/orders/", {"lines": "nope"}, format="json", HTTP_ACCEPT_LANGUAGE=language
        )
        assert response.status_code == 400, response.content[:300]
        bodies[language] = response.json()["error"]
    assert bodies["en"]["code"] == bodies["de"]["code"] == "validation_error"
    assert set(bodies["en"]["details"]) == set(bodies["de"]["details"])
    # The field messages are DRF's, which ships German; they follow the language.
    assert bodies["en"]["details"] != bodies["de"]["details"]


# --- Templates: no visible text outside translate tags -----------------------------------------------------

# Attributes whose values a person reads (tooltips, screen readers, button captions).
_VISIBLE_ATTRIBUTES = re.compile(r"""\b(?:title|alt|aria-label|placeholder|value)="([^"]*)\"""")
_COMMENTS = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}|<!--.*?-->", re.S)
_BLOCKTRANSLATE = re.compile(r"{%\s*blocktranslate\b.*?%}.*?{%\s*endblocktranslate\s*%}", re.S)
_VARIABLE = re.compile(r"{{(.*?)}}", re.S)
_TAG = re.compile(r"{%.*?%}", re.S)
_HTML_TAG = re.compile(r"<[^>]*>", re.S)
_ENTITY = re.compile(r"&[a-zA-Z]+;|&#\d+;")
_QUOTED = re.compile(r"""(_\()?("[^"]*"|'[^']*')""")
# Content that is not prose for people: styles, scripts, and the CSS classes of the admin's bodyclass block.
_NOT_PROSE = re.compile(
    r"<style.*?</style>|<script.*?</script>|{%\s*block bodyclass\s*%}.*?{%\s*endblock\s*%}", re.S
)


def _untranslated_literals(variable: str) -> list[str]:
    """Quoted strings with letters inside a {{ }} (``default:"..."``) that are not wrapped in _()."""
    return [
        text for wrapped, text in _QUOTED.findall(variable) if not wrapped and re.search(r"[A-Za-z]", text)
    ]


def _bare_text(source: str) -> list[str]:
    source = _NOT_PROSE.sub("", _COMMENTS.sub("", source))
    source = _BLOCKTRANSLATE.sub("", source)
    found: list[str] = []
    for match in _VARIABLE.finditer(source):
        found += _untranslated_literals(match.group(1))
    # Tags go before the attributes are read: {% translate "..." %} inside an attribute has quotes too.
    source = _TAG.sub("", _VARIABLE.sub("", source))
    for value in _VISIBLE_ATTRIBUTES.findall(source):
        found += [value] if re.search(r"[A-Za-z]", value) else []
    source = _ENTITY.sub(" ", _HTML_TAG.sub(" ", source))
    found += [chunk.strip() for chunk in re.split(r"\s{2,}|\n", source) if re.search(r"[A-Za-z]", chunk)]
    return found


def test_the_template_check_finds_bare_text() -> None:
    assert _bare_text("<p>Hello</p>") == ["Hello"]
    assert _bare_text('<span title="Nope">{% translate "Yes" %}</span>') == ["Nope"]
    assert _bare_text('{{ x|default:"none yet" }}') == ['"none yet"']
    assert (
        _bare_text('{{ x|default:_("none yet") }}{% blocktranslate %}Hi {{ n }}{% endblocktranslate %}') == []
    )
    assert _bare_text("{# a comment #}<a href=\"{% url 'admin:index' %}\">&rsaquo;</a> 42 · {{ n }}") == []


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: str(p.relative_to(TEMPLATES_DIR)))
def test_templates_show_no_text_outside_translate_tags(path: Path) -> None:
    source = path.read_text()
    assert _bare_text(source) == [], f"{path.name}: untranslated text"
    if re.search(r"{%\s*(translate|blocktranslate)\b|_\(", source):
        assert re.search(r"{%\s*load\b[^%]*\bi18n\b", source), f"{path.name} does not load i18n"


# --- Python texts are lazy translations ----------------------------------------------------------------


def _project_models() -> list[Any]:
    return [model for model in apps.get_models() if model._meta.app_label in PROJECT_APPS]


def test_every_project_model_names_itself_in_a_translatable_way() -> None:
    untranslated = [
        f"{model._meta.label}.{name}"
        for model in _project_models()
        for name in ("verbose_name", "verbose_name_plural")
        if not isinstance(getattr(model._meta, name), Promise)
    ]
    assert untranslated == []


def test_every_app_names_itself_in_a_translatable_way() -> None:
    untranslated = [
        app for app in PROJECT_APPS if not isinstance(apps.get_app_config(app).verbose_name, Promise)
    ]
    assert untranslated == []


def test_every_project_field_with_an_explicit_name_or_help_is_translatable() -> None:
    untranslated = []
    for model in _project_models():
        for field in model._meta.get_fields(include_hidden=False):
            if field.auto_created or not hasattr(field, "verbose_name"):
                continue
            generated = field.name.replace("_", " ")
            if field.verbose_name != generated and not isinstance(field.verbose_name, Promise):
                untranslated.append(f"{model._meta.label}.{field.name} verbose_name")
            if field.help_text and not isinstance(field.help_text, Promise):
                untranslated.append(f"{model._meta.label}.{field.name} help_text")
    assert untranslated == []


def _project_model_admins() -> list[Any]:
    return [
        model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in PROJECT_APPS or type(model_admin).__module__.split(".")[0] in PROJECT_APPS
    ]


def test_every_admin_action_is_described_in_a_translatable_way() -> None:
    untranslated = []
    for model_admin in _project_model_admins():
        for _function, name, description in model_admin._get_base_actions():
            if name != "delete_selected" and not isinstance(description, Promise):
                untranslated.append(f"{type(model_admin).__name__}.{name}")
    assert untranslated == []


def test_every_admin_column_and_filter_title_is_translatable() -> None:
    untranslated = []
    for model_admin in _project_model_admins():
        for column in list(model_admin.list_display) + list(model_admin.readonly_fields):
            target = column if callable(column) else getattr(model_admin, column, None)
            description = getattr(target, "short_description", None)
            if description is not None and not isinstance(description, Promise):
                untranslated.append(f"{type(model_admin).__name__}.{column}")
        for list_filter in model_admin.list_filter:
            title = getattr(list_filter, "title", None)
            if isinstance(list_filter, type) and title is not None and not isinstance(title, Promise):
                untranslated.append(f"{type(model_admin).__name__} filter {list_filter.__name__}")
    assert untranslated == []


@pytest.mark.django_db
def test_the_projects_own_pages_use_the_translate_tags() -> None:
    """The 404 page's breadcrumb is {% translate "Home" %}, a text Django's admin catalog translates."""
    german = Client().get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="de")
    english = Client().get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    assert german.status_code == english.status_code == 404
    assert '<a href="/admin/">Start</a>' in german.content.decode()
    assert '<a href="/admin/">Home</a>' in english.content.decode()

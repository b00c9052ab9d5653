"""Request size limits beyond the body size (1 MB, tests/api/test_bad_input.py): form fields and files."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_form_with_too_many_fields_is_refused_before_it_is_processed() -> None:
    fields = {f"field{i}": "x" for i in range(1001)}

    response = Client(REMOTE_ADDR="203.0.113.30").post("/admin/login/", fields)

    assert response.status_code == 400


def test_a_request_with_too_many_files_is_refused() -> None:
    files = {f"file{i}": SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(11)}

    response = Client(REMOTE_ADDR="203.0.113.31").post("/admin/login/", files)

    assert response.status_code == 400


def test_an_ordinary_login_form_is_within_the_limits() -> None:
    response = Client(REMOTE_ADDR="203.0.113.32").post("/admin/login/", {"username": "x", "password": "y"})

    assert response.status_code == 200  # the form again: wrong credentials, but parsed

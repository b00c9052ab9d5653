from tests.api.conftest import client_for, mug, users  # noqa: F401  # the API tests' fixtures

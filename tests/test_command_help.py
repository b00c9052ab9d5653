"""Every argument of every management command of the project says what it does in ``--help``."""

from __future__ import annotations

import argparse

import pytest
from django.core.management import get_commands, load_command_class

PROJECT_APPS = ("accounts", "orders", "projections", "recovery")
PROJECT_COMMANDS = sorted((name, app) for name, app in get_commands().items() if app in PROJECT_APPS)


def test_the_project_commands_are_found() -> None:
    names = {name for name, _ in PROJECT_COMMANDS}
    assert {"create_user", "rebuild_projection", "backup", "restore", "dr_drill"} <= names


@pytest.mark.parametrize(("name", "app"), PROJECT_COMMANDS)
def test_every_argument_has_help_text(name: str, app: str) -> None:
    command = load_command_class(app, name)
    parser = command.create_parser("manage.py", name)

    undocumented = [
        action.dest
        for action in parser._actions
        if action.help != argparse.SUPPRESS and not (action.help or "").strip()
    ]
    assert not undocumented, f"{name}: arguments without help: {undocumented}"
    assert (command.help or "").strip(), f"{name} has no description"

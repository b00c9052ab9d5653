"""``python -m bench.phases NAME --params JSON --out FILE``: set Django up, then run one phase."""

from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path

parser = argparse.ArgumentParser(prog="python -m bench.phases")
parser.add_argument(
    "name", choices=["append", "fixtures", "crowd", "bus", "settle", "lag", "rebuild", "webhooks"]
)
parser.add_argument("--params", default="{}", help="the phase's parameters as JSON")
parser.add_argument("--out", required=True, type=Path, help="where to write the result (JSON)")
args = parser.parse_args()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
import django  # noqa: E402  # after the settings module is known

django.setup()  # before the phase's module imports models
phase = importlib.import_module(f"bench.phases.{args.name}")
args.out.write_text(json.dumps(phase.run(json.loads(args.params)), indent=2, default=str))

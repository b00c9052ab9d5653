"""The bench's phases, each run as ``python -m bench.phases NAME --params JSON --out FILE``.

A phase is its own process with its own Django set-up and database (``DATABASE_URL``): the orchestrator
points each at the database it should use and reads the JSON it writes. A phase module has
``run(params: dict) -> dict``.
"""

from typing import Any

Params = dict[str, Any]

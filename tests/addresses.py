"""The shipping address tests send, defined once; every other address of the tests derives from it.

Plain data (no Django), so the domain tests use it too. A test that searches logs, tables or archives for
a customer's personal data gives that customer fields of its own (``{**ADDRESS, "name": ...}``), so a
match can only be theirs.
"""

from __future__ import annotations

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 Analytical Row",
    "city": "London",
    "postal_code": "N1 9GU",
    "country": "GB",
}
# Another customer's, in another country.
OTHER_ADDRESS = {
    **ADDRESS,
    "name": "Grace Hopper",
    "line1": "1 Compiler Way",
    "city": "Paris",
    "postal_code": "75001",
    "country": "FR",
}

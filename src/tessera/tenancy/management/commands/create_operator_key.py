"""`tessera create_operator_key <name>`: a key for the platform's operator API (`/api/v1/operator/`).

For a hosting company that onboards merchants by script: the key creates merchants, their stores and
their first admin key (docs/management-api.md). It is printed once; Tessera keeps only a hash. Revoke it
with `tessera revoke_operator_key <prefix>`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tessera.tenancy.services import create_operator_key


class Command(BaseCommand):
    help = "Create an operator key for the platform's management API; the key is printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="What the key is for, e.g. 'provisioning script'.")

    def handle(self, *args: Any, **options: Any) -> None:
        issued = create_operator_key(name=options["name"])
        self.stderr.write(f"Operator key {issued.key.prefix} created. It is shown once; store it now:")
        self.stdout.write(issued.raw_key)

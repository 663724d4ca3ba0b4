"""`tessera revoke_operator_key <prefix>`: the operator key gets 401 from its next request on."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tessera.tenancy.models import OperatorKey
from tessera.tenancy.services import revoke_api_key


class Command(BaseCommand):
    help = "Revoke an operator key, named by its prefix (tso_<prefix>_…)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        key = OperatorKey.objects.filter(prefix=options["prefix"]).first()
        if key is None:
            raise CommandError(f"No operator key with prefix {options['prefix']!r}.")
        revoke_api_key(key=key)
        self.stdout.write(f"Operator key {key.prefix} ({key.name}) revoked.")

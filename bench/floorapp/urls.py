"""The floor's endpoints, each the shape of one of Tessera's till requests with nothing else:

- `GET /api/bare`: bearer authentication against a constant, a small JSON answer; no database.
- `GET /api/lookup?phone=`: the key checked by one statement, then the member and their account by one
  joined statement — Tessera's lookup's two statements.
- `POST /api/earn` (JSON body, `Idempotency-Key`): the key's statement, then in one transaction the
  account locked by the member's phone, the entry, the lot, the balance, and the idempotency record with
  its answer (`INSERT … ON CONFLICT DO NOTHING`) — Tessera's points/add's eight statements as
  PostgreSQL's log counts them (BEGIN and COMMIT included), in raw SQL.
- `POST /api/earn-orm`: the same through the ORM (`select_for_update`, `create`, `save(update_fields)`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.http import HttpRequest
from django.urls import path
from django.utils import timezone
from ninja import Header, NinjaAPI, Schema
from ninja.security import HttpBearer

from bench.floorapp.models import Account, Entry, Lot

TOKEN = "floor-token"
api = NinjaAPI(urls_namespace="floor", docs_url=None)


class Constant(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> str | None:
        return token if token == TOKEN else None


class Key(HttpBearer):
    """One statement, as Tessera's known key costs: still good, and whose."""

    def authenticate(self, request: HttpRequest, token: str) -> int | None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT merchant_id FROM floor_key WHERE prefix = %s AND revoked_at IS NULL", [token[:12]]
            )
            row = cursor.fetchone()
        return row[0] if row else None


class MemberOut(Schema):
    member_id: int
    name: str
    phone: str
    balance: int


class EarnIn(Schema):
    phone: str
    amount_spent: int
    note: str = ""


class EarnOut(Schema):
    entry_id: int
    points: int
    balance: int


@api.get("/bare", auth=Constant())
def bare(request: HttpRequest) -> dict[str, bool]:
    return {"ok": True}


@api.get("/lookup", auth=Key(), response={200: MemberOut, 404: dict})
def lookup(request: HttpRequest, phone: str) -> tuple[int, object]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT m.id, m.name, m.phone, a.balance FROM floor_member m JOIN floor_account a"
            " ON a.member_id = m.id WHERE m.merchant_id = %s AND m.phone = %s",
            [request.auth, phone],  # type: ignore[attr-defined]
        )
        row = cursor.fetchone()
    if row is None:
        return 404, {"code": "member_not_found"}
    return 200, MemberOut(member_id=row[0], name=row[1], phone=row[2], balance=row[3])


def _points(amount_spent: int) -> int:
    return amount_spent // 10000


@api.post("/earn", auth=Key(), response={200: EarnOut, 404: dict})
def earn(
    request: HttpRequest, data: EarnIn, idempotency_key: str = Header(..., alias="Idempotency-Key")
) -> tuple[int, object]:
    merchant = request.auth  # type: ignore[attr-defined]
    now = timezone.now()
    points = _points(data.amount_spent)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, a.balance FROM floor_account a JOIN floor_member m ON m.id = a.member_id"
            " WHERE m.merchant_id = %s AND m.phone = %s FOR UPDATE OF a",
            [merchant, data.phone],
        )
        row = cursor.fetchone()
        if row is None:
            return 404, {"code": "member_not_found"}
        account, balance = row[0], row[1] + points
        cursor.execute(
            "INSERT INTO floor_entry"
            " (merchant_id, account_id, kind, amount, balance_after, note, occurred_at) VALUES"
            " (%s, %s, 'earn', %s, %s, %s, %s) RETURNING id",
            [merchant, account, points, balance, data.note, now],
        )
        entry = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO floor_lot"
            " (merchant_id, account_id, entry_id, amount, remaining, earned_at, expires_at) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s)",
            [merchant, account, entry, points, points, now, now + timedelta(days=365)],
        )
        cursor.execute(
            "UPDATE floor_account SET balance = %s, updated_at = %s WHERE id = %s", [balance, now, account]
        )
        answer = EarnOut(entry_id=entry, points=points, balance=balance)
        _remember(cursor, merchant, idempotency_key, answer)
    return 200, answer


@api.post("/earn-orm", auth=Key(), response={200: EarnOut, 404: dict})
def earn_orm(
    request: HttpRequest, data: EarnIn, idempotency_key: str = Header(..., alias="Idempotency-Key")
) -> tuple[int, object]:
    merchant = request.auth  # type: ignore[attr-defined]
    now = timezone.now()
    points = _points(data.amount_spent)
    with transaction.atomic():
        account = (
            Account.objects.select_for_update()
            .filter(merchant_id=merchant, member_id__in=_member_ids(merchant, data.phone))
            .first()
        )
        if account is None:
            return 404, {"code": "member_not_found"}
        account.balance += points
        account.updated_at = now
        entry = Entry.objects.create(
            merchant_id=merchant,
            account=account,
            kind="earn",
            amount=points,
            balance_after=account.balance,
            note=data.note,
            occurred_at=now,
        )
        Lot.objects.create(
            merchant_id=merchant,
            account=account,
            entry=entry,
            amount=points,
            remaining=points,
            earned_at=now,
            expires_at=now + timedelta(days=365),
        )
        account.save(update_fields=["balance", "updated_at"])
        answer = EarnOut(entry_id=entry.pk, points=points, balance=account.balance)
        with connection.cursor() as cursor:
            _remember(cursor, merchant, idempotency_key, answer)
    return 200, answer


def _member_ids(merchant: int, phone: str) -> Any:
    return RawSQL("SELECT id FROM floor_member WHERE merchant_id = %s AND phone = %s", [merchant, phone])


def _remember(cursor: Any, merchant: int, key: str, answer: EarnOut) -> None:
    """The key and its answer with the work's last write; a key seen before undoes the work."""
    cursor.execute(
        "INSERT INTO floor_idem (merchant_id, key, status, answer) VALUES (%s, %s, 200, %s)"
        " ON CONFLICT (merchant_id, key) DO NOTHING RETURNING id",
        [merchant, key, json.dumps(answer.dict())],
    )
    if cursor.fetchone() is None:
        raise Replayed(key)


class Replayed(Exception):
    """A retry: its work is rolled back (a real API answers with the stored answer; the floor's load
    never retries)."""


urlpatterns = [path("api/", api.urls)]

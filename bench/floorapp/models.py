"""Three of the tables Tessera's earn writes, reduced to the columns a points entry needs (created by
bench/floor.py, not by migrations)."""

from django.db import models


class Account(models.Model):
    merchant_id = models.BigIntegerField()
    member_id = models.BigIntegerField()
    balance = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "floor_account"

    def __str__(self) -> str:
        return f"account {self.pk}"


class Entry(models.Model):
    merchant_id = models.BigIntegerField()
    account = models.ForeignKey(Account, models.DO_NOTHING)
    kind = models.CharField(max_length=16)
    amount = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    note = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "floor_entry"

    def __str__(self) -> str:
        return f"entry {self.pk}"


class Lot(models.Model):
    merchant_id = models.BigIntegerField()
    account = models.ForeignKey(Account, models.DO_NOTHING)
    entry = models.ForeignKey(Entry, models.DO_NOTHING)
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    earned_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = "floor_lot"

    def __str__(self) -> str:
        return f"lot {self.pk}"

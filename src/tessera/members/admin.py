from __future__ import annotations

from django.contrib import admin

from tessera.members.models import Member, Segment, Tag
from tessera.tenancy.admin_base import TenantAdmin, TenantHistoryAdmin


@admin.register(Member)
class MemberAdmin(TenantHistoryAdmin):
    list_display = ["full_name", "phone", "status", "created_at"]


@admin.register(Segment)
class SegmentAdmin(TenantHistoryAdmin):
    list_display = ["name"]


@admin.register(Tag)
class TagAdmin(TenantAdmin):
    list_display = ["name"]

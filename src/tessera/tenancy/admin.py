from __future__ import annotations

from django.contrib import admin

from tessera.tenancy.admin_base import TenantAdmin, TenantHistoryAdmin
from tessera.tenancy.models import ApiKey, Merchant, Role, StaffMembership, Store


@admin.register(Merchant)
class MerchantAdmin(TenantHistoryAdmin):
    list_display = ["name", "slug", "currency", "time_zone", "default_language", "is_active"]
    search_fields = ["name", "slug"]


@admin.register(Store)
class StoreAdmin(TenantHistoryAdmin):
    list_display = ["name", "code", "merchant", "is_active"]
    list_filter = ["merchant", "is_active"]
    search_fields = ["name", "code"]


@admin.register(StaffMembership)
class StaffMembershipAdmin(TenantHistoryAdmin):
    list_display = ["user", "merchant", "all_stores"]


@admin.register(Role)
class RoleAdmin(TenantHistoryAdmin):
    list_display = ["name", "merchant", "key"]


@admin.register(ApiKey)
class ApiKeyAdmin(TenantAdmin):
    list_display = ["name", "prefix", "store", "last_used_at", "revoked_at"]

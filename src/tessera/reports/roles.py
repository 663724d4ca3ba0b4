"""What the reports app grants each default role (B1). Store managers see their stores' figures only
(the pages and the API scope every report to the staff member's stores); cashiers see no reports."""

_ALL = (
    "reports.view_sales_report",
    "reports.view_crm_report",
    "reports.view_tier_report",
    "reports.view_card_audit_report",
    "reports.view_staff_report",
    "reports.view_liability_report",
    "reports.view_settlement_report",
    "reports.export_reports",
)

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": _ALL,
    "finance": _ALL,
    "store_manager": _ALL,
    "cashier": (),
    "marketing": ("reports.view_crm_report", "reports.view_tier_report", "reports.export_reports"),
}

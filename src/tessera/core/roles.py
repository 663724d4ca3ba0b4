"""What the core app grants each default role (B1): merchant admins may download every staff member's
export files of their merchant (issue 16); everyone else only their own."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("core.download_any_exportjob",),
}

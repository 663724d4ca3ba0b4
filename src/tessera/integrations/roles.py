"""What the integrations app grants each default role (B1). Connections and webhook endpoints hold
secrets that act for the whole merchant: only its admins manage them and see their deliveries."""

GRANTS: dict[str, tuple[str, ...]] = {
    "merchant_admin": ("integrations.*",),
}

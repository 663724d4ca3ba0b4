"""factory-boy factories shared by every domain's tests. Each builds only what it is asked for."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from tessera.members.models import Member, MemberStatus
from tessera.tenancy import services as tenancy
from tessera.tenancy.models import Merchant, Role, StaffMembership, Store


class MerchantFactory(factory.django.DjangoModelFactory[Merchant]):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    slug = factory.Sequence(lambda n: f"merchant-{n}")
    currency = "VND"
    time_zone = "Asia/Ho_Chi_Minh"
    default_language = "vi"

    @classmethod
    def _create(cls, model_class: type[Merchant], *args: object, **kwargs: object) -> Merchant:
        return tenancy.create_merchant(**kwargs)  # type: ignore[arg-type]


class StoreFactory(factory.django.DjangoModelFactory[Store]):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    code = factory.Sequence(lambda n: f"s{n}")
    name = factory.Sequence(lambda n: f"Store {n}")


class MemberFactory(factory.django.DjangoModelFactory[Member]):
    class Meta:
        model = Member

    merchant = factory.SubFactory(MerchantFactory)
    full_name = factory.Sequence(lambda n: f"Member {n}")
    phone = factory.Sequence(lambda n: f"+8490{n:07d}")
    status = MemberStatus.ACTIVE

    @classmethod
    def _create(cls, model_class: type[Member], *args: object, **kwargs: object) -> Member:
        """Registered through the service (normalised phone, search text); then given `status`."""
        from tessera.members.services import register_member

        status = kwargs.pop("status")
        member = register_member(**kwargs)  # type: ignore[arg-type]
        if member.status != status:
            # A test shortcut past the C2 transitions, which have their own tests.
            Member.objects.filter(pk=member.pk).update(status=status)
            member.status = status  # type: ignore[assignment]
        return member


def role(merchant: Merchant, key: str) -> Role:
    return Role.objects.get(merchant=merchant, key=key)


def staff_user(
    merchant: Merchant, *roles: str, stores: list[Store] | None = None, username: str | None = None
) -> StaffMembership:
    """A back-office user of `merchant` with the named default roles (all stores unless `stores`)."""
    name = username or f"{merchant.slug}-{'-'.join(roles) or 'nobody'}-{get_user_model().objects.count()}"
    return tenancy.add_staff(
        merchant=merchant,
        username=name,
        password="correct horse battery staple",
        roles=[role(merchant, r) for r in roles],
        stores=stores,
    )

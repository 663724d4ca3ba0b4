"""`tessera seed_demo`: a demo installation to click through, built with the same services staff use.

Idempotent: what exists is left alone, what is missing is added. One function per domain (`seed_*`);
later domains (cards, transactions) add theirs to `SEEDERS`. Refuses to run in production, because
its users have published passwords.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from tessera.tenancy import services as tenancy
from tessera.tenancy.models import ApiKey, Merchant, Role, StaffMembership, Store

#: Every demo login uses this password; it is printed at the end and written in the README.
DEMO_PASSWORD = "tessera-demo"  # noqa: S105 (published on purpose; production refuses the seed)


@dataclass
class DemoMerchant:
    merchant: Merchant
    stores: list[Store]
    admin: Any  # the merchant admin user: the actor of the demo's writes


@dataclass
class Demo:
    """What the seeders built, and what the command prints at the end."""

    merchants: dict[str, DemoMerchant] = field(default_factory=dict)
    logins: list[tuple[str, str]] = field(default_factory=list)  # (username, what they are)
    api_keys: list[tuple[str, str]] = field(default_factory=list)  # (key name, raw key or a note)
    counts: dict[str, int] = field(default_factory=dict)


# --- tenancy: merchants, stores, staff, operator --------------------------------------------------------

PHO = {
    "name": "Phở Hà Nội",
    "slug": "pho-ha-noi",
    "currency": "VND",
    "time_zone": "Asia/Ho_Chi_Minh",
    "default_language": "vi",
    "country": "VN",
    "primary_color": "#b91c1c",
    "accent_color": "#f59e0b",
    # Manual activation shows C2's "not activated" state; the seed activates most members by hand.
    "auto_activate_members": False,
}
PHO_STORES = [
    ("hoan-kiem", "Hoàn Kiếm", "12 Hàng Bạc, Hoàn Kiếm, Hà Nội"),
    ("quan-1", "Quận 1", "45 Lê Lợi, Bến Nghé, Quận 1, TP. Hồ Chí Minh"),
]
# username, first name, last name, role key, store index (None: all stores), description
PHO_STAFF = [
    ("admin", "Hà", "Nguyễn Thu", "merchant_admin", None, "merchant admin, all stores"),
    ("manager", "Dũng", "Trần Văn", "store_manager", 0, "store manager, Hoàn Kiếm"),
    ("cashier1", "Lan", "Lê Thị", "cashier", 0, "cashier, Hoàn Kiếm"),
    ("cashier2", "Minh", "Phạm Quốc", "cashier", 1, "cashier, Quận 1"),
    ("marketing", "Vy", "Hoàng Ngọc", "marketing", None, "marketing"),
    ("finance", "Khoa", "Đặng Minh", "finance", None, "finance"),
]
TEA = {
    "name": "茶馆 Tea House",
    "slug": "tea-house",
    "currency": "CNY",
    "time_zone": "Asia/Shanghai",
    "default_language": "zh-hans",
    "country": "CN",
    "primary_color": "#166534",
    "accent_color": "#ca8a04",
}
TEA_STORES = [("jingan", "静安店", "上海市静安区南京西路 1266 号")]
TEA_STAFF = [("tea-admin", "芳", "王", "merchant_admin", None, "茶馆 Tea House merchant admin")]


def _merchant(spec: dict[str, Any]) -> Merchant:
    found = Merchant.objects.filter(slug=spec["slug"]).first()
    if found is not None:
        return found
    fields = {k: v for k, v in spec.items() if k not in ("name", "slug")}
    return tenancy.create_merchant(name=spec["name"], slug=spec["slug"], **fields)


def _stores(merchant: Merchant, specs: list[tuple[str, str, str]], actor: Any) -> list[Store]:
    stores = []
    for code, name, address in specs:
        store = Store.objects.of(merchant).filter(code=code).first()
        stores.append(
            store
            or tenancy.create_store(merchant=merchant, code=code, name=name, address=address, actor=actor)
        )
    return stores


def _staff(
    merchant: Merchant, stores: list[Store], specs: list[tuple[Any, ...]], demo: Demo, actor: Any
) -> list[StaffMembership]:
    made = []
    for username, first, last, role_key, store_index, description in specs:
        staff = StaffMembership.objects.filter(user__username=username).first()
        if staff is None:
            staff = tenancy.add_staff(
                merchant=merchant,
                username=username,
                password=DEMO_PASSWORD,
                roles=[Role.objects.get(merchant=merchant, key=role_key)],
                stores=None if store_index is None else [stores[store_index]],
                first_name=first,
                last_name=last,
                email=f"{username}@{merchant.slug}.example",
                actor=actor,
            )
        made.append(staff)
        demo.logins.append((username, description))
    return made


def _operator(demo: Demo) -> None:
    users = get_user_model().objects
    if not users.filter(username="operator").exists():
        # Operators are the platform's own users, outside any merchant: Django's superusers.
        users.create_superuser("operator", "operator@tessera.example", DEMO_PASSWORD)
    demo.logins.append(("operator", "platform operator (superuser), all merchants"))


def seed_tenancy(demo: Demo) -> None:
    for key, spec, store_specs, staff_specs in (
        ("pho", PHO, PHO_STORES, PHO_STAFF),
        ("tea", TEA, TEA_STORES, TEA_STAFF),
    ):
        merchant = _merchant(spec)
        admin_spec, *others = staff_specs
        admin = _staff(merchant, [], [admin_spec], demo, actor=None)[0].user
        stores = _stores(merchant, store_specs, actor=admin)
        _staff(merchant, stores, others, demo, actor=admin)
        demo.merchants[key] = DemoMerchant(merchant=merchant, stores=stores, admin=admin)
    _operator(demo)


def seed_api_keys(demo: Demo) -> None:
    """One POS key per store. The raw key exists only at creation: a re-run cannot show it again."""
    for entry in demo.merchants.values():
        for store in entry.stores:
            name = f"POS {store.name}"
            if ApiKey.objects.of(entry.merchant).filter(store=store, name=name, revoked_at=None).exists():
                demo.api_keys.append((name, "(issued earlier; shown only when created)"))
                continue
            issued = tenancy.create_api_key(
                merchant=entry.merchant, store=store, name=name, actor=entry.admin
            )
            demo.api_keys.append((name, issued.raw_key))


# --- members ----------------------------------------------------------------------------------------------

VI_FAMILY = ["Nguyễn"] * 8 + ["Trần"] * 3 + ["Lê"] * 2 + [
    "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý",
]  # fmt: skip
VI_MIDDLE = {"male": ["Văn", "Đức", "Minh", "Quốc", "Hữu", "Thanh", "Gia"],
             "female": ["Thị", "Ngọc", "Thu", "Thanh", "Minh", "Mai", "Hoài"]}  # fmt: skip
VI_GIVEN = {
    "male": ["An", "Bình", "Cường", "Dũng", "Hùng", "Huy", "Khoa", "Long", "Nam", "Phong", "Quân", "Sơn",
             "Thắng", "Tuấn", "Việt", "Hiếu", "Đạt", "Khánh", "Trung", "Phúc"],
    "female": ["Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hương", "Lan", "Linh", "Loan", "Mai",
               "My", "Ngọc", "Nhung", "Phương", "Quỳnh", "Thảo", "Trang", "Vy", "Yến"],
}  # fmt: skip
VI_REGIONS = ["Hà Nội", "TP. Hồ Chí Minh", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Bắc Ninh", "Quảng Ninh",
              "Khánh Hòa", "Đồng Nai", "Bình Dương"]  # fmt: skip
VI_OCCUPATIONS = ["Kỹ sư", "Giáo viên", "Bác sĩ", "Nhân viên văn phòng", "Sinh viên", "Kinh doanh", "Kế toán",
                  "Lập trình viên", "Nội trợ", "Kiến trúc sư"]  # fmt: skip
VI_PREFERENCES = ["Không ăn hành", "Thích ngồi gần cửa sổ", "Ăn chay ngày rằm", "Dị ứng đậu phộng", "Ít cay",
                  "Thêm rau thơm", "Nước dùng nhiều, ít bánh phở"]  # fmt: skip
VI_NOTES = [
    "Khách quen từ năm 2019",
    "Hay đặt bàn cho công ty",
    "Thích phở bò tái",
    "Sinh nhật hay đi cùng gia đình",
]
VI_TAGS = ["Khách quen", "Khách VIP", "Doanh nghiệp", "Sinh viên"]
VI_PHONE_PREFIXES = ["90", "91", "93", "94", "96", "97", "98", "86", "88", "89", "70", "77", "79", "81", "83",
                     "84", "85", "32", "33", "35", "36", "37", "38", "39"]  # fmt: skip

ZH_FAMILY = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"]
ZH_GIVEN = {"male": ["伟", "强", "磊", "洋", "勇", "军", "杰", "涛", "明", "超"],
            "female": ["芳", "娜", "敏", "静", "丽", "艳", "娟", "秀英", "婷", "雪"]}  # fmt: skip
ZH_REGIONS = ["上海", "北京", "杭州", "苏州", "南京"]
ZH_PHONE_PREFIXES = ["130", "131", "135", "136", "138", "139", "150", "151", "158", "186", "188", "189"]


@dataclass(frozen=True)
class DemoPerson:
    phone: str
    profile: dict[str, Any]
    status: str  # "active", "not_activated" or "excluded"


def _valid(phone: str) -> bool:
    return bool(phone) and phonenumbers.is_valid_number(phonenumbers.parse(phone))


def vietnamese_people(count: int, stores: list[Store], seed: int = 1954) -> list[DemoPerson]:
    """The same `count` customers every time (a fixed seed), "Nguyễn Văn An" first."""
    rng = random.Random(seed)  # noqa: S311 (made-up people, the same every run)
    people, phones = [], set()
    for i in range(count):
        gender = "male" if i == 0 or rng.random() < 0.5 else "female"
        name = (
            "Nguyễn Văn An"
            if i == 0
            else f"{rng.choice(VI_FAMILY)} {rng.choice(VI_MIDDLE[gender])} {rng.choice(VI_GIVEN[gender])}"
        )
        phone = ""
        while not _valid(phone) or phone in phones:
            phone = f"+84{rng.choice(VI_PHONE_PREFIXES)}{rng.randrange(10**7):07d}"
        phones.add(phone)
        profile: dict[str, Any] = {
            "full_name": name,
            "gender": gender,
            "birthday": date(1960, 1, 1) + timedelta(days=rng.randrange(45 * 365)),
            "region": rng.choice(VI_REGIONS),
            "occupation": rng.choice(VI_OCCUPATIONS),
            "home_store": stores[i % len(stores)],
            "marketing_sms": rng.random() < 0.7,
            "marketing_email": rng.random() < 0.4,
        }
        if rng.random() < 0.2:
            profile["preferences"] = rng.choice(VI_PREFERENCES)
        if rng.random() < 0.1:
            profile["notes"] = rng.choice(VI_NOTES)
        if rng.random() < 0.3:
            profile["tags"] = rng.sample(VI_TAGS, k=rng.choice([1, 1, 2]))
        status = "excluded" if i % 50 == 49 else "not_activated" if i % 40 == 39 else "active"
        people.append(DemoPerson(phone=phone, profile=profile, status=status))
    return people


def chinese_people(count: int, stores: list[Store], seed: int = 1913) -> list[DemoPerson]:
    rng = random.Random(seed)  # noqa: S311 (made-up people, the same every run)
    people, phones = [], set()
    for _ in range(count):
        gender = "male" if rng.random() < 0.5 else "female"
        phone = ""
        while not _valid(phone) or phone in phones:
            phone = f"+86{rng.choice(ZH_PHONE_PREFIXES)}{rng.randrange(10**8):08d}"
        phones.add(phone)
        profile = {
            "full_name": rng.choice(ZH_FAMILY) + rng.choice(ZH_GIVEN[gender]),
            "gender": gender,
            "birthday": date(1965, 1, 1) + timedelta(days=rng.randrange(40 * 365)),
            "region": rng.choice(ZH_REGIONS),
            "home_store": stores[0],
        }
        people.append(DemoPerson(phone=phone, profile=profile, status="active"))
    return people


def _register(entry: DemoMerchant, people: list[DemoPerson]) -> int:
    from tessera.members import services as members
    from tessera.members.models import Member

    existing = {str(p) for p in Member.objects.of(entry.merchant).values_list("phone", flat=True)}
    created = 0
    for person in people:
        if person.phone in existing:
            continue
        with transaction.atomic():
            member = members.register_member(
                merchant=entry.merchant, phone=person.phone, actor=entry.admin, **person.profile
            )
            if person.status != "not_activated" and member.status == "not_activated":
                member = members.activate_member(member=member, actor=entry.admin)
            if person.status == "excluded":
                members.exclude_member(member=member, reason="Nghi ngờ gian lận điểm", actor=entry.admin)
        created += 1
    return created


def seed_members(demo: Demo) -> None:
    pho, tea = demo.merchants["pho"], demo.merchants["tea"]
    demo.counts["members of Phở Hà Nội"] = _register(pho, vietnamese_people(300, pho.stores))
    demo.counts["members of 茶馆 Tea House"] = _register(tea, chinese_people(20, tea.stores))


def seed_program(demo: Demo) -> None:
    """Phở Hà Nội's loyalty program: Silver/Gold/Diamond by spend over 12 months, double points at
    weekends, a promo-code offer and a gift. Built before the sales, so those earn and rank under it."""
    from decimal import Decimal

    from tessera.rewards.models import CodeValueKind, Gift, PromoCodeOffer
    from tessera.rewards.services import save_gift
    from tessera.rules.models import EarningRule, Effect
    from tessera.rules.services import save_rule
    from tessera.tiers.models import Tier, TierProgram
    from tessera.tiers.services import save_program, save_tier

    pho = demo.merchants["pho"]
    merchant, actor = pho.merchant, pho.admin
    if TierProgram.objects.filter(merchant=merchant).exists():
        return
    save_program(program=TierProgram(merchant=merchant), actor=actor)
    tiers = [
        ("silver", "Bạc", 1_000_000, "2", "1", 50),
        ("gold", "Vàng", 3_000_000, "5", "1.5", 200),
        ("diamond", "Kim cương", 10_000_000, "10", "2", 1000),
    ]
    for rank, (code, name, threshold, discount, multiplier, reward) in enumerate(tiers, start=1):
        save_tier(
            tier=Tier(
                merchant=merchant,
                code=code,
                name=name,
                rank=rank,
                threshold=threshold,
                discount_percent=Decimal(discount),
                earning_multiplier=Decimal(multiplier),
                reward_points=reward,
            ),
            actor=actor,
        )
    save_rule(
        rule=EarningRule(
            merchant=merchant,
            name="1 điểm mỗi 10.000đ",
            priority=10,
            effect=Effect.PER_AMOUNT,
            points=Decimal(1),
            per_amount=10_000,
        ),
        actor=actor,
    )
    save_rule(
        rule=EarningRule(
            merchant=merchant,
            name="Cuối tuần nhân đôi",
            priority=20,
            weekdays=[6, 7],
            effect=Effect.MULTIPLIER,
            multiplier=Decimal(2),
        ),
        actor=actor,
    )
    offer = PromoCodeOffer(
        merchant=merchant,
        name="Giảm 50.000đ",
        points_cost=100,
        value_kind=CodeValueKind.AMOUNT,
        amount=50_000,
        validity_days=30,
    )
    offer.stamp(actor)
    offer.full_clean()
    offer.save()
    save_gift(
        gift=Gift(merchant=merchant, name="Bát phở đặc biệt", points_cost=150, stock=0),
        actor=actor,
        stock_change=50,
    )
    demo.counts["tiers, 2 earning rules, a promo-code offer and a gift for Phở Hà Nội"] = len(tiers)


#: Run in this order; each adds to the demo what its domain needs.
def seed_cards_and_sales(demo: Demo) -> None:
    """Cards, a month of sales, points by hand and stored value, for the back-office pages."""
    from tessera.backoffice.demo import seed_cards_and_sales as seed

    seed(demo)


SEEDERS: list[Callable[[Demo], None]] = [
    seed_tenancy,
    seed_members,
    seed_api_keys,
    seed_program,
    seed_cards_and_sales,
]


class Command(BaseCommand):
    help = "Create (or complete) the demo merchants, staff, members and POS keys, and print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="The address the server will answer on."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                "seed_demo creates users with a published password; "
                "it does not run with TESSERA_ENV=production."
            )
        demo = Demo()
        for seeder in SEEDERS:
            seeder(demo)
        self._print(demo, options["url"].rstrip("/"))

    def _print(self, demo: Demo, url: str) -> None:
        out, bold = self.stdout.write, self.style.MIGRATE_HEADING
        out(bold("\nTessera demo is ready."))
        out(f"  Back office:  {url}/admin/")
        out(f"  API docs:     {url}/api/v1/docs   (OpenAPI: {url}/api/v1/openapi.json)")
        out(f"  Cashier:      {url}/admin/tessera/cashier/   Scanner (phone): {url}/staff/scan/")
        out(f"  Portal:       {url}/m/pho-ha-noi/   (sign-in codes are printed by the worker's SMS log)")
        for what, count in demo.counts.items():
            if count:
                out(f"  Added {count} {what}.")
        out(bold(f"\nLogins (password for all: {DEMO_PASSWORD})"))
        for username, description in demo.logins:
            out(f"  {username:<11} {description}")
        out(bold("\nPOS API keys (send as `Authorization: Bearer <key>`)"))
        for name, key in demo.api_keys:
            out(f"  {name:<22} {key}")
        out("")

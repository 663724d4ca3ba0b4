"""Queueing a campaign to 100,000 members (I1: "queued in seconds"), against the database's own limit.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera_bench .venv/bin/python bench/campaign.py \
        [--members 100000] [--send 6000]

Seeds `--members` members (90 % accept marketing SMS) with a points account, a segment of everyone and
an SMS template using {{ name }} and {{ points }}. Then, on the same data:

1. the database's limit: one INSERT … SELECT writing the same message rows (text concatenated in SQL,
   points grouped, SMS parts counted, the skipped rows' address and reason), committed — for a draft
   twin of the campaign, whose rows are compared with Tessera's afterwards (they must be equal) and
   deleted before sending;
2. Tessera: `launch_campaign` + `queue_campaign` — consent decided and each member's text built, in
   chunks (on PostgreSQL with the template's simple placeholders: one INSERT … SELECT per chunk);
3. sending: one `drain` with the channel's rate set to `--send` per minute and the `file` SMS backend,
   i.e. our own cost per message without a provider's network latency.

Prints seconds and rows per second and the ratio; writes bench/results/campaign.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, django_setup, psql, reset_database, seed_members, write_result

SET_BASED = """
BEGIN;
INSERT INTO marketing_message (created_at, updated_at, member_id, channel, "to", language, subject, body,
  parts, is_marketing, status, error, provider_message_id, attempts, campaign_id, trigger, trigger_ref,
  template_id, merchant_id)
SELECT now(), now(), r.id, 'sms', r.phone, 'vi', '', r.body,
  CASE WHEN r.body = '' THEN 0 WHEN char_length(r.body) <= 160 THEN 1
       ELSE ceil(char_length(r.body) / 153.0)::int END,
  true, CASE WHEN r.marketing_sms THEN 'queued' ELSE 'skipped_no_consent' END,
  CASE WHEN r.marketing_sms THEN '' ELSE 'no marketing consent for this channel' END,
  '', 0, {campaign}, 'campaign', '', {template}, r.merchant_id
FROM (
  SELECT m.id, m.phone, m.marketing_sms, m.merchant_id, CASE WHEN m.marketing_sms THEN 'Chao ' || m.full_name
    || ', ban co ' || replace(to_char(coalesce(a.balance, 0), 'FM9,999,999,999,999,999,999'), ',', '.')
    || ' diem.' ELSE '' END AS body
  FROM members_member m LEFT JOIN ledger_account a ON a.member_id = m.id AND a.kind = 'points'
  WHERE m.merchant_id = {merchant} AND m.superseded_by_id IS NULL AND m.erased_at IS NULL
  OFFSET 0  -- each text built once, not once per use
) r;
COMMIT;
"""

#: The rows of one campaign that the other does not have (both ways): 0 when the SQL baseline and
#: Tessera wrote the same rows.
DIFFERENCE = """
SELECT count(*) FROM (
  (SELECT member_id, "to", language, subject, body, parts, is_marketing, status, error, trigger, trigger_ref,
     template_id, merchant_id FROM marketing_message WHERE campaign_id = {a}
   EXCEPT ALL
   SELECT member_id, "to", language, subject, body, parts, is_marketing, status, error, trigger, trigger_ref,
     template_id, merchant_id FROM marketing_message WHERE campaign_id = {b})
  UNION ALL
  (SELECT member_id, "to", language, subject, body, parts, is_marketing, status, error, trigger, trigger_ref,
     template_id, merchant_id FROM marketing_message WHERE campaign_id = {b}
   EXCEPT ALL
   SELECT member_id, "to", language, subject, body, parts, is_marketing, status, error, trigger, trigger_ref,
     template_id, merchant_id FROM marketing_message WHERE campaign_id = {a})
) d
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=6000, help="messages sent in the timed drain")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions of queueing")
    args = parser.parse_args()

    reset_database()
    django_setup()
    import os

    os.environ["SMS_BACKEND"] = "file"
    import django

    django.setup()
    from django.conf import settings

    settings.SMS_BACKEND = "file"
    from tessera.marketing import delivery, services
    from tessera.marketing.models import Campaign, Message, MessageStatus, MessageTemplate
    from tessera.members.services import save_segment
    from tessera.tenancy import services as tenancy

    merchant = tenancy.create_merchant(
        name="Bench Café", slug="bench", currency="VND", time_zone="Asia/Ho_Chi_Minh", default_language="vi"
    )
    t0 = time.monotonic()
    seed_members(merchant_id=merchant.pk, count=args.members, balance=1250, expires=None)
    psql(f"UPDATE members_member SET marketing_sms = (id % 10 <> 0) WHERE merchant_id = {merchant.pk}")
    psql("VACUUM ANALYZE members_member")
    seed_s = time.monotonic() - t0
    print(f"seeded {args.members} members with accounts in {seed_s:.1f} s", flush=True)

    template = services.save_template(
        template=MessageTemplate(
            merchant=merchant,
            name="Bench",
            channel="sms",
            body_vi="Chào {{ name }}, bạn có {{ points }} điểm.",
            strip_diacritics=True,
        )
    )
    segment = save_segment(merchant=merchant, name="Everyone", filters={})
    campaign = services.create_campaign(merchant=merchant, name="Bench", template=template, segment=segment)
    twin = services.create_campaign(merchant=merchant, name="Baseline", template=template, segment=segment)

    t0 = time.monotonic()
    psql(SET_BASED.format(campaign=twin.pk, template=template.pk, merchant=merchant.pk))
    sql_s = time.monotonic() - t0

    t0 = time.monotonic()
    services.launch_campaign(campaign=campaign)
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        queued = profiler.runcall(services.queue_campaign, campaign_id=campaign.pk)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    else:
        queued = services.queue_campaign(campaign_id=campaign.pk)
    app_s = time.monotonic() - t0
    campaign = Campaign.objects.get(pk=campaign.pk)
    consenting = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).count()
    assert queued == args.members == campaign.audience_size, (queued, campaign.audience_size)
    differing = int(psql(DIFFERENCE.format(a=campaign.pk, b=twin.pk)))
    assert differing == 0, f"{differing} rows differ between the SQL baseline and queue_campaign"
    print("the SQL baseline and queue_campaign wrote the same rows", flush=True)
    psql(f"DELETE FROM marketing_message WHERE campaign_id = {twin.pk}")
    print(
        f"queue {args.members} recipients: SQL set-based {sql_s:.2f} s ({args.members / sql_s:,.0f} rows/s)"
        f" | queue_campaign {app_s:.2f} s ({args.members / app_s:,.0f} rows/s) | ratio {sql_s / app_s:.3f}"
        f" | {consenting} queued, {args.members - consenting} skipped for no consent",
        flush=True,
    )

    row = services.settings_for(merchant)
    row.sms_rate_per_minute = args.send
    row.save()
    t0 = time.monotonic()
    sent = delivery.drain()
    send_s = time.monotonic() - t0
    assert sent == min(args.send, consenting), sent
    print(f"drain: {sent} messages sent in {send_s:.2f} s ({sent / send_s:,.0f} messages/s, file backend)")

    result = {
        "members": args.members,
        "consenting": consenting,
        "seed_seconds": round(seed_s, 1),
        "sql_set_based": {"seconds": round(sql_s, 2), "rows_per_s": round(args.members / sql_s)},
        "queue_campaign": {"seconds": round(app_s, 2), "rows_per_s": round(args.members / app_s)},
        "ratio_app_to_sql": round(sql_s / app_s, 3),
        "drain": {
            "messages": sent,
            "seconds": round(send_s, 2),
            "messages_per_s": round(sent / send_s),
            "backend": "file (no provider latency)",
        },
    }
    path = write_result("campaign", result)
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

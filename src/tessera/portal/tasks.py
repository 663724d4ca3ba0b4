"""The portal's jobs: sending a login code, outside the request that asked for it (issue 12)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from tessera.portal import services


@db_task()
def send_login_code_task(login_code_id: int) -> bool:
    return services.send_login_code(login_code_id=login_code_id)

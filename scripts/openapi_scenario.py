"""A scenario against a live Gatehouse through a client generated from openapi/admin-v1.json by
openapi-python-client: create users, page through 25 of them 10 at a time both ways, set a
password, lock, unlock, deactivate, reactivate, list and finish compatibility sessions, export
the users as CSV and import them back under fresh names.

Usage: python openapi_scenario.py BASE_URL TOKEN   (run by scripts/openapi-check)
"""

import json
import sys
import urllib.request

from gatehouse_admin_api_client import AuthenticatedClient
from gatehouse_admin_api_client.api.compat_session import (
    finish_compat_session,
    list_compat_sessions,
)
from gatehouse_admin_api_client.api.user import (
    create_user,
    deactivate_user,
    export_users_csv,
    get_user_by_username,
    import_users,
    list_users,
    lock_user,
    reactivate_user,
    set_user_password,
    unlock_user,
)
from gatehouse_admin_api_client.models import (
    CreateUserRequest,
    ImportReport,
    RowStatus,
    SessionStatus,
    SetPasswordRequest,
    SingleUser,
    UserList,
)
from gatehouse_admin_api_client.types import File


def check(condition, message):
    if not condition:
        raise SystemExit(f"openapi_scenario: {message}")


def main(base_url, token):
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    names = [f"scenario{i:02}" for i in range(25)]
    for name in names:
        response = create_user.sync_detailed(client=client, body=CreateUserRequest(username=name))
        check(response.status_code == 201, f"create {name}: {response.status_code} {response.content!r}")
    duplicate = create_user.sync_detailed(client=client, body=CreateUserRequest(username=names[0]))
    check(duplicate.status_code == 409, f"duplicate create: {duplicate.status_code}")

    # Forward, 10 at a time (only the scenario users: they match the search).
    seen, after, pages = [], None, 0
    while True:
        kwargs = {"pagefirst": 10, "filtersearch": "scenario"}
        if after:
            kwargs["pageafter"] = after
        page = list_users.sync(client=client, **kwargs)
        check(isinstance(page, UserList), f"list: {page!r}")
        check(page.meta.count == 25, f"count {page.meta.count}")
        seen += [item.attributes.username for item in page.data]
        pages += 1
        if not page.links.next_:
            break
        after = page.data[-1].id
    check(pages == 3 and seen == names, f"forward: {pages} pages, {seen}")

    # Backward.
    seen, before, sizes = [], None, []
    while True:
        kwargs = {"pagelast": 10, "filtersearch": "scenario"}
        if before:
            kwargs["pagebefore"] = before
        page = list_users.sync(client=client, **kwargs)
        sizes.append(len(page.data))
        seen = [item.attributes.username for item in page.data] + seen
        if not page.links.prev:
            break
        before = page.data[0].id
    check(sizes == [10, 10, 5] and seen == names, f"backward: {sizes}, {seen}")

    user = get_user_by_username.sync(client=client, username=names[3])
    check(isinstance(user, SingleUser), f"by-username: {user!r}")
    user_id = user.data.id
    response = set_user_password.sync_detailed(
        client=client, id=user_id, body=SetPasswordRequest(password="a scenario password")
    )
    check(response.status_code == 204, f"set-password: {response.status_code}")
    # The new password logs in through the Matrix compatibility /login.
    root = base_url.rsplit("/api/admin/v1", 1)[0]
    login = urllib.request.Request(
        f"{root}/_matrix/client/v3/login",
        data=json.dumps({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": names[3]},
                         "password": "a scenario password"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(login) as answer:
        body = json.load(answer)
    check(body.get("access_token", "").startswith("mct_"), f"login with the new password: {body}")
    locked = lock_user.sync(client=client, id=user_id)
    check(locked.data.attributes.locked_at is not None, "lock")
    unlocked = unlock_user.sync(client=client, id=user_id)
    check(unlocked.data.attributes.locked_at is None, "unlock")
    gone = deactivate_user.sync(client=client, id=user_id)
    check(gone.data.attributes.deactivated_at is not None, "deactivate")
    back = reactivate_user.sync(client=client, id=user_id)
    check(back.data.attributes.deactivated_at is None, "reactivate")

    sessions = list_compat_sessions.sync(client=client, filterstatus=SessionStatus.ACTIVE)
    check(sessions.meta.count >= 2, f"compat sessions: {sessions.meta.count}")
    finished = finish_compat_session.sync(client=client, id=sessions.data[0].id)
    check(finished.data.attributes.finished_at is not None, "finish compat session")
    again = finish_compat_session.sync_detailed(client=client, id=sessions.data[0].id)
    check(again.status_code == 409, f"finish twice: {again.status_code}")

    # CSV: export, rename the scenario users to a fresh name set, import, import again.
    exported = export_users_csv.sync(client=client)
    check(isinstance(exported, (bytes, str)), f"export: {exported!r}")
    text = exported.decode() if isinstance(exported, bytes) else exported
    lines = text.splitlines()
    check(lines[0].startswith("username,created_at,"), f"export header: {lines[0]!r}")
    rows = [line for line in lines[1:] if line.startswith("scenario")]
    check(len(rows) == 25, f"exported scenario rows: {len(rows)}")
    copy = "\n".join([lines[0]] + [row.replace("scenario", "csvcopy", 1) for row in rows]) + "\n"
    report = import_users.sync(client=client, body=File(payload=copy.encode()))
    check(isinstance(report, ImportReport), f"import: {report!r}")
    check(report.created == 25 and report.errors == 0, f"import: {report.to_dict()}")
    check(all(row.status == RowStatus.CREATED for row in report.rows), "import rows")
    copied = get_user_by_username.sync(client=client, username="csvcopy03")
    check(isinstance(copied, SingleUser), f"imported user: {copied!r}")
    again = import_users.sync(client=client, body=File(payload=copy.encode()))
    check(again.skipped == 25 and again.created == 0, f"re-import: {again.to_dict()}")
    print("openapi_scenario: OK", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

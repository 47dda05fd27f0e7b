"""A legacy Matrix client (matrix-nio, unchanged) against Gatehouse + Synapse behind a proxy:
log in with a password, sync, send nothing, log out. Exit 0 on success; prints what failed.

usage: python nio_client.py HOMESERVER_URL USER PASSWORD
"""

import asyncio
import sys

from nio import AsyncClient, LoginResponse, LogoutResponse, SyncResponse, WhoamiResponse


async def main(homeserver: str, user: str, password: str) -> int:
    client = AsyncClient(homeserver, user)
    try:
        login = await client.login(password, device_name="nio legacy client")
        if not isinstance(login, LoginResponse):
            print(f"login failed: {login}")
            return 1
        whoami = await client.whoami()
        if not isinstance(whoami, WhoamiResponse) or whoami.device_id != login.device_id:
            print(f"whoami failed: {whoami}")
            return 1
        sync = await client.sync(timeout=0, full_state=True)
        if not isinstance(sync, SyncResponse):
            print(f"sync failed: {sync}")
            return 1
        logout = await client.logout()
        if not isinstance(logout, LogoutResponse):
            print(f"logout failed: {logout}")
            return 1
        client.access_token = login.access_token
        after = await client.whoami()
        if isinstance(after, WhoamiResponse):
            print("the token still works after logout")
            return 1
        print(f"ok: {login.user_id} device {login.device_id} logged in, synced, logged out")
        return 0
    finally:
        await client.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3])))

"""`gateway clients`, `users` and `keys` as real processes against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from joserfc.jwk import ECKey, KeySet

from tests.support.auth import World

REPOSITORY = Path(__file__).resolve().parents[2]


def gateway(world: World, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": world.settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *argv],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPOSITORY,
        input=stdin,
        check=False,
    )


async def test_clients_add_with_a_secret_prints_it_once_as_json(client: httpx.AsyncClient, world: World) -> None:
    added = gateway(world, "clients", "add", "--org", "family-action", "--scopes", "tasks:read", "--secret", "--json")
    credentials = json.loads(added.stdout)
    listed = gateway(world, "clients", "list")

    token = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert added.returncode == 0, added.stderr
    assert token.status_code == 200 and token.json()["scope"] == "tasks:read"
    assert credentials["client_id"] in listed.stdout
    assert credentials["client_secret"] not in listed.stdout


async def test_rotate_secret_retires_the_old_one(client: httpx.AsyncClient, world: World) -> None:
    rotated = gateway(world, "clients", "rotate-secret", world.hub_client_id, "--json")
    new_secret = json.loads(rotated.stdout)["client_secret"]

    old = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(world.hub_client_id, world.hub_client_secret)
    )
    new = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(world.hub_client_id, new_secret)
    )
    assert old.status_code == 401
    assert new.status_code == 200


def test_clients_add_with_a_jwks_file_uses_private_key_jwt(world: World, tmp_path: Path) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "partner-1"})
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(KeySet([key]).as_dict(private=False)))

    added = gateway(
        world, "clients", "add", "--org", "cpn", "--scopes", "tasks:read", "--jwks", str(jwks_file), "--json"
    )

    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["client_secret"] is None


def test_clients_add_refuses_unknown_scopes_and_organisations(world: World) -> None:
    bad_scope = gateway(world, "clients", "add", "--org", "cpn", "--scopes", "everything", "--secret")
    bad_org = gateway(world, "clients", "add", "--org", "nowhere", "--scopes", "tasks:read", "--secret")
    neither = gateway(world, "clients", "add", "--org", "cpn", "--scopes", "tasks:read")

    assert bad_scope.returncode != 0 and "unknown scopes: everything" in bad_scope.stderr
    assert bad_org.returncode != 0 and "nowhere" in bad_org.stderr
    assert neither.returncode != 0 and "--jwks" in neither.stderr


def test_users_add_with_a_role(world: World) -> None:
    added = gateway(
        world,
        "users",
        "add",
        "--org",
        "opcc",
        "--role",
        "commissioner-analyst",
        "--email",
        "analyst@opcc.test",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    duplicate = gateway(
        world, "users", "add", "--org", "opcc", "--role", "commissioner-analyst", "--email", "ANALYST@opcc.test"
    )

    assert added.returncode == 0, added.stderr
    assert "commissioner-analyst" in added.stdout and "password:" not in added.stdout
    assert duplicate.returncode != 0 and "exists" in duplicate.stderr

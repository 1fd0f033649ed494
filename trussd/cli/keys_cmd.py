"""``trussd keys`` and ``trussd secrets``: API keys (admin) and a tenant's secrets."""

from __future__ import annotations

import json
import sys

import click

from trussd.cli.control_cmd import _api_key, _client, _friendly, _json, _remote, _table

__all__ = ["keys", "secrets"]


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (admin)."""


@keys.command("create")
@click.option("--tenant", help="Tenant of the key (created if new); yours when unset.")
@click.option("--admin", is_flag=True, help="The key may manage tenants and keys.")
@_remote
@_api_key
@_json
@_friendly
def keys_create(
    tenant: str | None, admin: bool, remote: str | None, api_key: str | None, as_json: bool
) -> None:
    item = _client(remote, api_key).json(
        "POST", "/v1/keys", json={"tenant": tenant, "admin": admin}
    )
    if as_json:
        click.echo(json.dumps(item))
    else:
        click.echo(f"key {item['id']} for tenant {item['tenant']} (shown once): {item['key']}")


@keys.command("list")
@_remote
@_api_key
@_json
@_friendly
def keys_list(remote: str | None, api_key: str | None, as_json: bool) -> None:
    items = _client(remote, api_key).json("GET", "/v1/keys")["keys"]
    click.echo(
        json.dumps(items, indent=2)
        if as_json
        else _table(items, ["id", "tenant", "is_admin", "revoked_at"])
    )


@keys.command("revoke")
@click.argument("key_id")
@_remote
@_api_key
@_friendly
def keys_revoke(key_id: str, remote: str | None, api_key: str | None) -> None:
    _client(remote, api_key).json("DELETE", f"/v1/keys/{key_id}")
    click.echo(f"revoked {key_id}")


@click.group()
def secrets() -> None:
    """Set, list and delete your tenant's secrets (replicas get only those their config names)."""


@secrets.command("set")
@click.argument("name")
@click.option(
    "--value", help="The value; read from stdin when omitted (keeps it out of shell history)."
)
@_remote
@_api_key
@_friendly
def secrets_set(name: str, value: str | None, remote: str | None, api_key: str | None) -> None:
    if value is None:
        value = sys.stdin.read().rstrip("\n")
    _client(remote, api_key).json("PUT", f"/v1/secrets/{name}", json={"value": value})
    click.echo(f"secret {name} set")


@secrets.command("list")
@_remote
@_api_key
@_friendly
def secrets_list(remote: str | None, api_key: str | None) -> None:
    for name in _client(remote, api_key).json("GET", "/v1/secrets")["secrets"]:
        click.echo(name)


@secrets.command("delete")
@click.argument("name")
@_remote
@_api_key
@_friendly
def secrets_delete(name: str, remote: str | None, api_key: str | None) -> None:
    _client(remote, api_key).json("DELETE", f"/v1/secrets/{name}")
    click.echo(f"secret {name} deleted")

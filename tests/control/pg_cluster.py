"""A throwaway PostgreSQL cluster for the store tests: initdb + pg_ctl from the Debian
`postgresql` package, listening only on a Unix socket in a temporary folder (no port to
collide with a parallel run), removed at the end.

PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` system
user (created by the Debian package) and its commands go through `runuser`."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["find_pg_bin", "pg_unavailable_reason", "throwaway_cluster"]

PG_ROOT = Path("/usr/lib/postgresql")
RUN_AS = "postgres"


def find_pg_bin() -> Path | None:
    """The newest installed server's bin folder that has initdb and pg_ctl."""
    if not PG_ROOT.is_dir():
        return None
    candidates = [
        d / "bin"
        for d in PG_ROOT.iterdir()
        if (d / "bin" / "initdb").is_file() and (d / "bin" / "pg_ctl").is_file()
    ]
    versions = sorted(
        candidates, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    return versions[-1] if versions else None


def _user() -> pwd.struct_passwd | None:
    """Who runs the cluster: ourselves, or the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(RUN_AS)
    except KeyError:
        return None


def pg_unavailable_reason() -> str | None:
    if find_pg_bin() is None:
        return f"no PostgreSQL server binaries under {PG_ROOT} (apt-get install postgresql)"
    if _user() is None:
        return f"running as root and there is no `{RUN_AS}` user to run PostgreSQL as"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without `runuser`"
    return None


def _run(argv: list[str]) -> None:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", RUN_AS, "--", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{argv} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster; yield a libpq URL of its `postgres` database as superuser `postgres`."""
    bin_dir, user = find_pg_bin(), _user()
    if bin_dir is None or user is None:
        raise RuntimeError(pg_unavailable_reason())
    root = Path(tempfile.mkdtemp(prefix="trussd-pg-"))
    data, sock, log = root / "data", root / "sock", root / "server.log"
    try:
        sock.mkdir()
        if os.geteuid() == 0:
            for path in (root, sock):
                os.chown(path, user.pw_uid, user.pw_gid)
        _run(
            [
                *(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"),
                *("-E", "UTF8", "--no-locale", "--no-sync"),
            ]
        )
        # No TCP at all; fsync off: a test cluster needs no durability.
        options = f"-c listen_addresses='' -k {sock} -c fsync=off -c full_page_writes=off"
        _run(
            [
                *(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options),
                *("-w", "-t", "60", "start"),
            ]
        )
        try:
            yield f"postgresql://postgres@/postgres?host={sock}"
        finally:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)

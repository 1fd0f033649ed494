"""Content-addressed storage of uploaded archives: a blob's name is its SHA-256.

A blob is written to a temporary file next to its final place, hashed as it arrives and
renamed into place only when the hash matches the name it was uploaded under; a mismatch or
an oversize upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from trussd.control.store import Store
from trussd.errors import InputError, RequestTooLarge, UploadRejected

__all__ = ["BlobStore", "discard_rejected", "own_blob", "owns_blob"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def own_blob(store: Store, tenant: str, sha256: str) -> None:
    store.execute(
        "INSERT INTO blob_owners (tenant, sha256, uploaded_at) VALUES (?, ?, ?)"
        " ON CONFLICT (tenant, sha256) DO NOTHING",
        (tenant, sha256, time.time()),
    )


def owns_blob(store: Store, tenant: str, sha256: str) -> bool:
    """Blobs are shared on disk but not across tenants: a tenant sees (and deploys) only what
    it uploaded itself, so a SHA-256 learnt elsewhere gives nothing away."""
    row = store.one(
        "SELECT 1 AS x FROM blob_owners WHERE tenant = ? AND sha256 = ?", (tenant, sha256)
    )
    return row is not None


def discard_rejected(store: Store, blobs: BlobStore, sha256: str) -> bool:
    """Forget an archive that unpacking rejected: its bytes would be rejected again for anyone,
    so neither the file nor any tenant's claim on it is kept. A blob some deployment was made
    from (under other limits) stays; returns whether it was removed."""
    if store.one("SELECT 1 AS x FROM deployments WHERE blob = ?", (sha256,)) is not None:
        return False
    store.execute("DELETE FROM blob_owners WHERE sha256 = ?", (sha256,))
    with contextlib.suppress(FileNotFoundError):
        blobs.path(sha256).unlink()
    return True


class BlobStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise InputError(f"`{sha256}` is not a lower-case hex SHA-256")
        return self.root / f"{sha256}.tar.gz"

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    async def write(self, sha256: str, chunks: AsyncIterator[bytes]) -> Path:
        final = self.path(sha256)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.root)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise RequestTooLarge(
                            f"upload is over the {self.max_bytes // 1024**2} MiB limit"
                        )
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise UploadRejected(
                    "upload does not match its SHA-256; it was corrupted in transit"
                )
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return final

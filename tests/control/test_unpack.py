"""Malicious uploads: each is rejected and leaves nothing behind, inside or outside the store."""

from __future__ import annotations

import base64
import errno
import gzip
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from trussd.control import unpack
from trussd.control.unpack import UnpackLimits, safe_unpack
from trussd.errors import TrussdError, UploadRejected

Member = tuple[tarfile.TarInfo, bytes | None]


def info(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = ""
) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.linkname = kind, size, link
    return ti


def archive(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for ti, data in members:
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return path


def file(name: str, data: bytes = b"x") -> Member:
    return info(name, size=len(data)), data


def snapshot(root: Path) -> set[Path]:
    return set(root.rglob("*"))


MALICIOUS: dict[str, Callable[[], list[Member]]] = {
    "absolute": lambda: [file("/tmp/evil")],
    "dotdot": lambda: [file("model/../../evil")],
    "symlink out": lambda: [(info("model/out", tarfile.SYMTYPE, link="../../outside"), None)],
    "symlink absolute": lambda: [(info("model/etc", tarfile.SYMTYPE, link="/etc"), None)],
    "write through link": lambda: [
        (info("d", tarfile.SYMTYPE, link="model"), None),
        file("d/x"),
    ],
    "hardlink out": lambda: [(info("h", tarfile.LNKTYPE, link="../outside"), None)],
    "hardlink to nothing": lambda: [(info("h", tarfile.LNKTYPE, link="missing"), None)],
    "device": lambda: [(info("dev", tarfile.CHRTYPE), None)],
    "fifo": lambda: [(info("fifo", tarfile.FIFOTYPE), None)],
    "duplicate": lambda: [file("config.yaml"), file("config.yaml")],
    "too many": lambda: [file(f"f{i}") for i in range(20)],
    # Each link's text stays inside; resolved, the chain leads to /etc/passwd.
    "symlink chain out": lambda: [
        (info("x", tarfile.SYMTYPE, link="."), None),
        (info("config.yaml", tarfile.SYMTYPE, link="x/" * 10 + "../" * 10 + "etc/passwd"), None),
    ],
    "symlink loop": lambda: [
        (info("a", tarfile.SYMTYPE, link="b"), None),
        (info("b", tarfile.SYMTYPE, link="a"), None),
    ],
    "file where a folder goes": lambda: [file("model"), file("model/model.py")],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archives_are_rejected_without_a_trace(tmp_path: Path, case: str) -> None:
    store = tmp_path / "store"
    store.mkdir()
    upload = archive(tmp_path / "upload.tar.gz", MALICIOUS[case]())
    before = snapshot(tmp_path)
    with pytest.raises(UploadRejected):
        safe_unpack(
            upload, store / "deployments" / "d1", UnpackLimits(max_bytes=1 << 20, max_members=10)
        )
    after = snapshot(tmp_path)
    assert after - before <= {store / "deployments"}  # at most the empty parent folder
    assert not list((store / "deployments").iterdir()) if (store / "deployments").exists() else True
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "outside").exists()


def test_archive_bomb_is_stopped_on_the_decompressed_stream(tmp_path: Path) -> None:
    payload = b"\0" * (8 << 20)  # compresses to a few KiB
    upload = archive(tmp_path / "bomb.tar.gz", [file("zeros", payload)])
    assert upload.stat().st_size < 100_000
    with pytest.raises(UploadRejected, match="bomb"):
        safe_unpack(upload, tmp_path / "out", UnpackLimits(max_bytes=1 << 20))
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bomb.tar.gz"]


def test_archive_bomb_is_stopped_by_its_expansion_ratio(tmp_path: Path) -> None:
    """Below the absolute limit, an archive may still not expand a thousand times."""
    limits = UnpackLimits(ratio_floor=1 << 20)
    bomb = archive(tmp_path / "bomb.tar.gz", [file("zeros", b"\0" * (8 << 20))])
    assert limits.expanded_limit(bomb.stat().st_size) < 8 << 20 < limits.max_bytes
    with pytest.raises(UploadRejected, match="bomb"):
        safe_unpack(bomb, tmp_path / "out", limits)
    assert not (tmp_path / "out").exists()
    # Incompressible data of the same size is a real truss's weights: it unpacks.
    weights = archive(tmp_path / "w.tar.gz", [file("w.bin", os.urandom(8 << 20))])
    assert (safe_unpack(weights, tmp_path / "out", limits) / "w.bin").stat().st_size == 8 << 20


def test_not_an_archive_is_rejected(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(gzip.compress(b"not a tar file at all" * 40))
    with pytest.raises(UploadRejected, match="not a valid"):
        safe_unpack(junk, tmp_path / "out")
    junk.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(UploadRejected):
        safe_unpack(junk, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_good_archive_unpacks_with_inside_links(tmp_path: Path) -> None:
    members = [
        file("config.yaml", b"model_name: t\n"),
        file("model/model.py", b"class Model: ...\n"),
        (info("model/alias.py", tarfile.SYMTYPE, link="model.py"), None),
        (info("copy.yaml", tarfile.LNKTYPE, link="config.yaml"), None),
    ]
    out = safe_unpack(archive(tmp_path / "ok.tar.gz", members), tmp_path / "out")
    assert (out / "model" / "alias.py").read_text() == "class Model: ...\n"
    assert (out / "copy.yaml").read_text() == "model_name: t\n"


# `truncate -s 8M sp/big.bin; tar -S -czf sparse.tar.gz -C sp big.bin` (GNU tar): 124 bytes.
SPARSE_8MIB = (
    "H4sIAAAAAAAAA+3QSwrCMBAA0BwlJ5DEprmIJ7Ab6cZCrfc3FFciCkI28t5mBmZgPtN8OUzzNfSUmlrKHpvXuOd5HN"
    "JxrEOprS+XXFKIp65bPd1v23mNMazLsn3q+1b/Wbu+vPtIlwEAAAAAAAAAAAD8iQf47bRwACgAAA=="
)


def test_a_sparse_member_is_rejected(tmp_path: Path) -> None:
    """Holes are not in the stream, so the decompressed count never sees them."""
    upload = tmp_path / "sparse.tar.gz"
    upload.write_bytes(base64.b64decode(SPARSE_8MIB))
    with pytest.raises(UploadRejected, match="sparse"):
        safe_unpack(upload, tmp_path / "out", UnpackLimits(max_bytes=1 << 20))
    assert [p.name for p in tmp_path.iterdir()] == ["sparse.tar.gz"]


def test_hard_link_copies_count_towards_the_size_limit(tmp_path: Path) -> None:
    one_mib = os.urandom(1 << 20)  # incompressible: the stream stays small, the copies do not
    members = [file("w.bin", one_mib)] + [
        (info(f"copy{i}", tarfile.LNKTYPE, link="w.bin"), None) for i in range(8)
    ]
    upload = archive(tmp_path / "links.tar.gz", members)
    with pytest.raises(UploadRejected, match="bomb"):
        safe_unpack(upload, tmp_path / "out", UnpackLimits(max_bytes=4 << 20))
    assert not (tmp_path / "out").exists()


def test_a_server_failure_is_not_a_rejection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full is this machine's trouble, not the archive's: not an UploadRejected."""
    upload = archive(tmp_path / "ok.tar.gz", [file("config.yaml", b"model_name: t\n")])

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(unpack.shutil, "copyfileobj", disk_full)
    with pytest.raises(TrussdError, match="No space left") as caught:
        safe_unpack(upload, tmp_path / "store" / "out")
    assert not isinstance(caught.value, UploadRejected)
    assert not list((tmp_path / "store").iterdir())

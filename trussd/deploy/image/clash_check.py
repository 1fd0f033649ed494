"""Run in the image after both environments are installed:
``/opt/trussd/bin/python -m trussd.deploy.image.clash_check``. Prints one warning per package the
truss and trussd's server both hold with different versions; never fails the build."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from trussd.model_wrapper.dependency_check import installed_clashes

__all__ = ["main"]


def _split_path(purelib: str) -> tuple[list[str], list[str]]:
    """The server's own site-packages, and the user's folders the .pth added after it."""
    server = [p for p in sys.path if Path(p) == Path(purelib)]
    user = [
        p for p in sys.path if p not in server and p.endswith(("site-packages", "dist-packages"))
    ]
    return server, user


def main() -> int:
    server, user = _split_path(sysconfig.get_paths()["purelib"])
    clashes = installed_clashes(server, user)
    for clash in clashes:
        print(f"trussd: warning: clash: {clash.render()}", flush=True)
    if not clashes:
        print("trussd: no clash between the truss's packages and the server's", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

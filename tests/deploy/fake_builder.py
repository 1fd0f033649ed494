"""A stand-in `buildah`/`docker` for tests of what trussd does around a builder.

It is written into a folder put first on PATH. Behaviour comes from files beside it:
``log`` (printed by bud/build), ``rc`` (its exit code), ``tags.json`` (tag → image id; a
successful or a misbehaving build sets ``set_tag``). Every call is appended to ``calls``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCRIPT = r"""#!{python}
import json, sys
from pathlib import Path
here = Path(__file__).parent
args = sys.argv[1:]
with open(here / "calls", "a") as f:
    f.write(json.dumps([Path(__file__).name, *args]) + "\n")
tags = json.loads((here / "tags.json").read_text()) if (here / "tags.json").exists() else {{}}
def save():
    (here / "tags.json").write_text(json.dumps(tags))
if args[:1] in (["version"], ["info"]):
    sys.exit(int((here / "probe_rc").read_text()) if (here / "probe_rc").exists() else 0)
if args[:1] in (["bud"], ["build"]):
    print((here / "log").read_text(), end="")
    tag = args[args.index("-t") + 1]
    rc = int((here / "rc").read_text())
    if rc == 0 or (here / "set_tag").exists():
        tags[tag] = "sha256-new"
        save()
    sys.exit(rc)
if "inspect" in args:
    tag = args[-1]
    if tag in tags:
        print(tags[tag])
        sys.exit(0)
    print("image not known", file=sys.stderr)
    sys.exit(125)
if args[:1] == ["rmi"]:
    tags.pop(args[1], None)
    save()
    sys.exit(0)
sys.exit(0)
"""


def install(folder: Path, name: str, *, log: str = "", rc: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(SCRIPT.format(python=sys.executable))
    path.chmod(0o755)
    (folder / "log").write_text(log)
    (folder / "rc").write_text(str(rc))
    return path


def calls(folder: Path) -> list[list[str]]:
    path = folder / "calls"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def tags(folder: Path) -> dict[str, str]:
    path = folder / "tags.json"
    return json.loads(path.read_text()) if path.exists() else {}

"""Naming the packages where a truss's requirements and trussd's server clash."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement

from trussd.model_wrapper.dependency_check import (
    find_clashes,
    installed_clashes,
    pinned_clashes,
    server_requirements,
)

SERVER = [
    Requirement("pydantic>=2.7,<3"),
    Requirement("fastapi>=0.110,<1"),
    Requirement("uvicorn[standard]>=0.30"),
]
PINS = {"pydantic": "2.14.4", "typing_extensions": "4.16.0", "pip": "25.0"}


def test_clashing_pins_and_ranges_are_named_in_order() -> None:
    found = find_clashes(["pydantic<2", "fastapi==0.100.0", "uvicorn>=0.31", "numpy==2.0"], SERVER)
    assert [(c.package, c.user, c.server) for c in found] == [
        ("pydantic", "<2", "<3,>=2.7"),
        ("fastapi", "==0.100.0", "<1,>=0.110"),
    ]
    assert found[0].render() == (
        "`pydantic`: the truss wants <2, trussd's server needs <3,>=2.7; no version satisfies both"
    )


def test_compatible_unparsable_and_other_platform_lines_do_not_clash() -> None:
    reqs = [
        "pydantic>=2.8",
        "Pydantic~=2.9",
        "fastapi",
        "torch==2.13.0",
        "# comment",
        "-e ./pkg",
        "--extra-index-url https://example.com/simple",
        "git+https://example.com/x.git",
        "pydantic<2; python_version < '3'",
        'pydantic<2; sys_platform == "win32"',
    ]
    assert find_clashes(reqs, SERVER) == []


def test_pinned_versions_are_equal_requirements() -> None:
    lines = ["pydantic<2", "Typing-Extensions==4.1", "six", "pydantic>=2,<3", "pip<20"]
    clashes = pinned_clashes(lines, PINS)
    assert [(c.package, c.user, c.server) for c in clashes] == [
        ("pydantic", "<2", "2.14.4"),
        ("typing-extensions", "==4.1", "4.16.0"),
    ]
    assert clashes[0].render() == (
        "`pydantic`: the truss wants <2, trussd's server has 2.14.4; "
        "the model imports the server's 2.14.4"
    )


def test_reads_the_installed_servers_requirements() -> None:
    names = {r.name for r in server_requirements()}
    assert {"fastapi", "uvicorn", "pydantic"} <= names
    assert [c.package for c in find_clashes(["fastapi<0.1"])] == ["fastapi"]


def _dist(site: Path, name: str, version: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_installed_packages_in_both_environments_with_other_versions(tmp_path: Path) -> None:
    server, user = tmp_path / "server", tmp_path / "user"
    _dist(server, "pydantic", "2.14.4")
    _dist(server, "anyio", "4.16.0")
    _dist(server, "pip", "25.0")
    _dist(user, "pydantic", "1.10.2")
    _dist(user, "anyio", "4.16.0")
    _dist(user, "pip", "23.0")
    _dist(user, "six", "1.17.0")
    clashes = installed_clashes([str(server)], [str(user)])
    assert [(c.package, c.user, c.server) for c in clashes] == [("pydantic", "1.10.2", "2.14.4")]

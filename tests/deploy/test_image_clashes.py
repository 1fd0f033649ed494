"""Naming the packages where the user's requirements and the server's environment clash."""

from __future__ import annotations

from pathlib import Path

from trussd.deploy.image import installed_clashes, requirement_clashes

PINS = {"pydantic": "2.14.4", "typing_extensions": "4.16.0", "pip": "25.0"}


def test_a_specifier_that_excludes_the_servers_version_clashes() -> None:
    clashes = requirement_clashes(["pydantic<2", "Typing-Extensions==4.1", "six"], PINS)
    assert [(c.package, c.user, c.server) for c in clashes] == [
        ("pydantic", "<2", "2.14.4"),
        ("typing-extensions", "==4.1", "4.16.0"),
    ]
    assert "the model imports the server's 2.14.4" in clashes[0].render()


def test_compatible_unparsable_and_other_platform_lines_do_not_clash() -> None:
    lines = [
        "pydantic>=2,<3",
        "pydantic",
        "--extra-index-url https://example.com/simple",
        "git+https://example.com/repo.git",
        'pydantic<2; sys_platform == "win32"',
        "pip<20",
    ]
    assert requirement_clashes(lines, PINS) == []


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

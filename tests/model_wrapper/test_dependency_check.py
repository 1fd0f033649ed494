from __future__ import annotations

from packaging.requirements import Requirement

from trussd.model_wrapper.dependency_check import find_conflicts, server_requirements

SERVER = [
    Requirement("pydantic>=2.7,<3"),
    Requirement("fastapi>=0.110,<1"),
    Requirement("uvicorn[standard]>=0.30"),
]


def test_clashing_pins_and_ranges_are_named() -> None:
    found = find_conflicts(
        ["pydantic<2", "fastapi==0.100.0", "uvicorn>=0.31", "numpy==2.0"], SERVER
    )
    assert [c.package for c in found] == ["pydantic", "fastapi"]
    assert "pydantic<2" in found[0].describe()
    assert "pydantic<3,>=2.7" in found[0].describe()


def test_compatible_and_unrelated_requirements_pass() -> None:
    reqs = [
        "pydantic>=2.8",
        "Pydantic~=2.9",
        "fastapi",
        "torch==2.13.0",
        "# comment",
        "-e ./pkg",
        "git+https://example.com/x.git",
        "pydantic<2; python_version < '3'",
    ]
    assert find_conflicts(reqs, SERVER) == []


def test_reads_the_installed_servers_requirements() -> None:
    names = {r.name for r in server_requirements()}
    assert {"fastapi", "uvicorn", "pydantic"} <= names
    assert [c.package for c in find_conflicts(["fastapi<0.1"])] == ["fastapi"]

"""The serving entry both `trussd serve` and the zygote's forks run: one set of options."""

from __future__ import annotations

import socket
from pathlib import Path

import click
import pytest

from trussd.cli.serve_cmd import serve
from trussd.server.entry import serve_argv, serve_parser


def test_the_entry_takes_every_option_of_trussd_serve() -> None:
    """A replica forked by the zygote gets `trussd serve`'s argv: no option may be missing."""
    flags = {
        flag
        for param in serve.params
        if isinstance(param, click.Option)
        for flag in (*param.opts, *param.secondary_opts)
    }
    ours = {flag for action in serve_parser()._actions for flag in action.option_strings}
    assert flags <= ours
    args = serve_parser().parse_args(
        ["d", "--port", "0", "--text-logs", "--access-log", "--predict-concurrency", "3"]
    )
    assert (args.port, args.json_logs, args.access_log, args.predict_concurrency) == (
        0,
        False,
        True,
        3,
    )


def test_an_invalid_truss_exits_1_with_its_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Fails while loading the config, before the server (and its logging) is set up.
    (tmp_path / "config.yaml").write_text('model_name: x\nresources:\n  accelerator: "Z99"\n')
    assert serve_argv([str(tmp_path), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: invalid truss")
    assert "config.yaml:3:3: error: resources.accelerator: unsupported accelerator `Z99`" in err
    assert err.count("unsupported accelerator") == 1  # each problem printed once


def test_a_port_in_use_exits_1_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "server-sync"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_argv([str(fixture), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot listen on 127.0.0.1:{port}" in err
    assert "fix: pick another --port" in err
    assert "Traceback" not in err

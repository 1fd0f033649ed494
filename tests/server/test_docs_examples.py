"""The example Model in docs/model-contract.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.server.conftest import settings
from trussd.config import load_truss
from trussd.server.app import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "model-contract.md"


def _example() -> str:
    section = DOC.read_text().split("## A complete example", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


async def test_model_contract_example_runs(tmp_path: Path) -> None:
    root = tmp_path / "doc-example"
    (root / "model").mkdir(parents=True)
    (root / "config.yaml").write_text("model_name: doc-example\nmodel_metadata:\n  greeting: hi\n")
    (root / "model" / "model.py").write_text(_example())
    app = create_app(load_truss(root), settings())
    async with app.router.lifespan_context(app):
        for task in list(app.state.ctx.tasks):
            await task
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            whole = await client.post("/predict", json={"text": "a b c d"})
            streamed = await client.post("/predict", json={"text": "a b", "stream": True})
            bad = await client.post("/predict", json={"text": "a", "max_words": 0})
            ready = await client.get("/v1/models/model")
    assert whole.json() == {"greeting": "hi", "words": ["a", "b", "c"]}
    assert streamed.text == "a b "
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["loc"] == "max_words"
    assert ready.status_code == 200

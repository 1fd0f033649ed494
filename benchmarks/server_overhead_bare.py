"""The baseline of benchmarks/server_overhead.py: the least a FastAPI app can do per request.

Run: python benchmarks/server_overhead_bare.py PORT  (uvloop + httptools, access log off)
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> JSONResponse:
    return JSONResponse(await request.json())


@app.post("/stream")
async def stream(request: Request) -> StreamingResponse:
    await request.body()

    async def chunks() -> AsyncIterator[str]:
        for i in range(100):
            yield f"chunk {i}\n"

    return StreamingResponse(chunks(), media_type="text/plain")


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )

"""A small HTTP client of the control plane API, used by the CLI (and usable from scripts)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from trussd import errors as e

__all__ = ["DEFAULT_REMOTE", "ControlClient"]

DEFAULT_REMOTE = "http://127.0.0.1:8000"
_BY_STATUS: dict[int, type[e.TrussdError]] = {
    401: e.Unauthorized,
    404: e.NotFound,
    409: e.Conflict,
    413: e.RequestTooLarge,
    422: e.UploadRejected,
}


class ControlClient:
    def __init__(
        self, remote: str | None = None, api_key: str | None = None, timeout: float = 60.0
    ) -> None:
        self.remote = (remote or os.environ.get("TRUSSD_REMOTE") or DEFAULT_REMOTE).rstrip("/")
        key = api_key or os.environ.get("TRUSSD_API_KEY")
        if not key:
            raise e.Unauthorized("no API key", hint="pass --api-key or set TRUSSD_API_KEY")
        self.http = httpx.Client(
            base_url=self.remote, headers={"Authorization": f"Api-Key {key}"}, timeout=timeout
        )

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise e.ControlError(
                f"cannot reach the control plane at {self.remote}: {exc}",
                hint="start it with `trussd up`, or set --remote / TRUSSD_REMOTE",
            ) from exc
        if response.status_code >= 400 and method != "HEAD":
            _raise(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # -- push ------------------------------------------------------------------------
    def has_blob(self, sha256: str) -> bool:
        return self._request("HEAD", f"/v1/blobs/{sha256}").status_code == 200

    def upload_blob(self, sha256: str, path: Path, progress: Callable[[int], None]) -> None:
        def chunks() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while chunk := fh.read(1024 * 1024):
                    progress(len(chunk))
                    yield chunk

        headers = {"Content-Type": "application/gzip", "Content-Length": str(path.stat().st_size)}
        self._request(
            "PUT",
            f"/v1/blobs/{sha256}",
            content=chunks(),
            headers=headers,
            timeout=httpx.Timeout(60.0, write=None),
        )

    def create_deployment(
        self, sha256: str, promote: bool, image: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"blob": sha256, "promote": promote}
        if image is not None:
            body["image"] = image
        result: dict[str, Any] = self.json("POST", "/v1/deployments", json=body, timeout=300.0)
        return result

    def logs(
        self, deployment_id: str, offset: int = 0, tail: int | None = None
    ) -> tuple[bytes, int]:
        params: dict[str, int] = {"offset": offset}
        if tail is not None:
            params["tail"] = tail
        response = self._request("GET", f"/v1/deployments/{deployment_id}/logs", params=params)
        return response.content, int(response.headers.get("X-Next-Offset", offset))


def _raise(response: httpx.Response) -> None:
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    message = str(error or f"HTTP {response.status_code}")
    hint = body.get("hint") if isinstance(body, dict) else None
    if isinstance(body, dict) and body.get("diagnostics"):
        message += "\n  " + "\n  ".join(body["diagnostics"])
    cls = _BY_STATUS.get(response.status_code, e.ControlError)
    raise cls(message, hint=hint)

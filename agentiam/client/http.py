"""JSON over urllib: POST and GET helpers that answer (status, body) for 2xx and 4xx alike."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

TIMEOUT = 10


def post(
    url: str, *, json_body: Any = None, form: dict | None = None, bearer: str = "", headers: dict | None = None
) -> tuple[int, Any]:
    """POST and decode the JSON answer; a refused request is an answer too, not an exception."""
    headers = {**(headers or {}), "Accept": "application/json"}
    if form is not None:
        data = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:
        data = json.dumps(json_body if json_body is not None else {}).encode()
        headers["Content-Type"] = "application/json"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 - caller's URL
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, _decode(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _decode(error.read())


def get(url: str, *, bearer: str = "") -> tuple[int, Any, dict[str, str]]:
    """GET and decode the JSON answer, with the answer's headers (Retry-After, for polling)."""
    headers = {"Accept": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 - caller's URL
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, _decode(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, _decode(error.read()), dict(error.headers)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {"detail": raw[:500].decode(errors="replace")}

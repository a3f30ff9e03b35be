"""Logs are JSON lines with the request id, and never carry a query string or a request body."""

from __future__ import annotations

import json
import logging
import sys

import httpx
import pytest

from gateway.logs import JsonLineFormatter


async def test_access_log_is_a_json_line_with_request_id_and_no_query_string(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.access")

    await client.get("/healthz?name=Jane+Doe&phone=07700900123", headers={"x-request-id": "trace-0001-abcd"})
    await client.post("/graphql", json={"query": "{ providers { slug } }", "variables": {"name": "Jane Doe"}})

    lines = [json.loads(JsonLineFormatter().format(r)) for r in caplog.records if r.name == "gateway.access"]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/healthz", 200),
        ("POST", "/graphql", 200),
    ]
    assert lines[0]["request_id"] == "trace-0001-abcd"
    assert all("Jane" not in json.dumps(line) and "07700" not in json.dumps(line) for line in lines)


def test_exception_text_is_left_out_of_the_log_line() -> None:
    try:
        raise ValueError("victim Jane Doe, 07700900123")
    except ValueError:
        record = logging.getLogger("test").makeRecord("test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())

    line = json.loads(JsonLineFormatter().format(record))

    assert line["exception"] == "ValueError"
    assert "Jane" not in json.dumps(line)

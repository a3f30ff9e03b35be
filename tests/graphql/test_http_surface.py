"""What /graphql answers around the operation itself: headers that keep answers out of caches, JSON refusals, and
503 while the database is unreachable.

Before, answers carrying victims' details had no `Cache-Control`, Strawberry's refusals were plain text, and with
the database down a request with a token got Starlette's 500 `Internal Server Error` in plain text.
"""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings

# Shaped like an access token: checking it needs the database (its keys, whether it was revoked).
SOME_TOKEN = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


async def test_every_answer_of_graphql_is_kept_out_of_caches(client: httpx.AsyncClient) -> None:
    answers = {
        "data": await client.post("/graphql", json={"query": "{ providers { slug } }"}),
        "a GraphQL error": await client.post("/graphql", json={"query": "{ providers { nope } }"}),
        "a refused limit": await client.post("/graphql", json={"query": "{ " + "a: providers { slug } " * 2 + "}"}),
        "a batch": await client.post("/graphql", json=[{"query": "{ providers { slug } }"}]),
        "a body that is not an object": await client.post(
            "/graphql", content=b"null", headers={"content-type": "application/json"}
        ),
        "GET": await client.get("/graphql", params={"query": "{ providers { slug } }"}),
        "plain text": await client.post("/graphql", content=b"{}", headers={"content-type": "text/plain"}),
    }

    headers = {
        name: (answer.headers.get("cache-control"), answer.headers.get("x-content-type-options"))
        for name, answer in answers.items()
    }
    assert headers == dict.fromkeys(answers, ("no-store", "nosniff"))
    content_types = {name: answer.headers["content-type"] for name, answer in answers.items()}
    assert content_types == dict.fromkeys(answers, "application/json")


def _nothing_listening() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("database_kind", ["postgresql", "sqlite"])
async def test_while_the_database_is_unreachable_graphql_answers_503_in_json(
    database_kind: str, tmp_path: Path
) -> None:
    # Given a gateway whose database cannot be reached: no PostgreSQL on the port, no directory for the SQLite file
    url = (
        f"postgresql+asyncpg://gateway:secret@127.0.0.1:{_nothing_listening()}/gateway"
        if database_kind == "postgresql"
        else f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'gateway.sqlite3'}"
    )
    app = create_app(Settings(database_url=url))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        # When a caller sends a token, which the gateway checks against the database
        with_token = await client.post(
            "/graphql", json={"query": "{ viewer { organisation } }"}, headers={"authorization": f"Bearer {SOME_TOKEN}"}
        )
        # and an anonymous caller reads the public directory, which needs no database
        anonymous = await client.post("/graphql", json={"query": "{ providers { slug } }"})
    await app.state.engine.dispose()

    # Then the first is told to retry, in JSON, saying nothing of the database
    assert (with_token.status_code, with_token.headers["content-type"]) == (503, "application/json")
    assert with_token.json() == {
        "error": "service-unavailable",
        "message": "The service is unavailable; try again shortly.",
    }
    assert with_token.headers["retry-after"] == "5"
    # and the second is answered
    assert anonymous.status_code == 200
    assert len(anonymous.json()["data"]["providers"]) == 5

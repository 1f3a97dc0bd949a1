"""A real GraphQL app: Strawberry under uvicorn, with a page whose script reads through
``POST /graphql`` and a ``Mutation`` that counts every execution.

* ``/``: fetches ``{ inventory { item count } }`` and shows it. Broken (``REALAPP_MODE=
  broken``): the resolver raises, GraphQL answers 200 with ``errors`` and the page shows them.
* ``/attack``: a page whose script tries to run the mutation every way a client can (see
  :data:`ATTACK_PAGE`) and then says it is done.
* ``/mutations-executed``: how many mutations production ran (a GET, read-only).

Production here is permissive on purpose: it takes batches and ``application/graphql`` bodies,
as many GraphQL servers do, so only smokeseal's guard stands between those and the mutation.

    python graphql_app.py PORT
"""

import json
import os
import sys

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.schema.config import StrawberryConfig

BROKEN = os.environ.get("REALAPP_MODE") == "broken"
executed: list[str] = []


@strawberry.type
class Stock:
    item: str
    count: int


@strawberry.type
class Query:
    @strawberry.field
    def inventory(self) -> list[Stock]:
        if BROKEN:
            raise RuntimeError("inventory database unreachable")
        return [Stock(item="widget", count=1234), Stock(item="gadget", count=56)]


@strawberry.type
class Mutation:
    @strawberry.mutation
    def restock(self, item: str) -> int:
        executed.append(item)
        return len(executed)


schema = strawberry.Schema(query=Query, mutation=Mutation,
                           config=StrawberryConfig(batching_config={"max_operations": 10}))
graphql = GraphQL(schema)


class GraphQLEndpoint:
    """Strawberry, also taking ``application/graphql`` (the body is the document). A class, so
    that Starlette's ``Route`` serves it as the ASGI app it is."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _graphql(scope, receive, send)


async def _graphql(scope: Scope, receive: Receive, send: Send) -> None:
    headers = dict(scope.get("headers", []))
    if scope["type"] == "http" and headers.get(b"content-type", b"").startswith(
            b"application/graphql"):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        as_json = json.dumps({"query": body.decode()}).encode()
        headers[b"content-type"] = b"application/json"
        headers[b"content-length"] = str(len(as_json)).encode()
        scope = {**scope, "headers": list(headers.items())}
        sent = False

        async def replay() -> dict[str, object]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": as_json, "more_body": False}

        await graphql(scope, replay, send)
        return
    await graphql(scope, receive, send)


HOME_PAGE = """<!doctype html><title>Inventory</title>
<main><h1>Inventory</h1><ul id=stock>Loading…</ul></main>
<script>
fetch('/graphql', {method: 'POST', headers: {'Content-Type': 'application/json'},
                   body: JSON.stringify({query: '{ inventory { item count } }'})})
  .then(r => r.json())
  .then(answer => {
    const list = document.getElementById('stock');
    if (answer.errors) {
      list.textContent = 'Error: ' + answer.errors.map(e => e.message).join('; ');
      return;
    }
    list.innerHTML = answer.data.inventory
      .map(s => `<li>${s.item}: ${s.count} in stock</li>`).join('');
  })
  .catch(error => {
    document.getElementById('stock').textContent = 'Could not load the inventory: ' + error;
  });
</script>"""

#: Every way a page's script can ask a GraphQL server to run a mutation.
ATTACK_PAGE = """<!doctype html><title>Attack</title>
<main><h1>Attack</h1><ol id=log></ol></main>
<script>
const MIXED = 'query Stock { inventory { item } } mutation Restock { restock(item: "mixed") }';
const json = body => ({method: 'POST', headers: {'Content-Type': 'application/json'},
                       body: JSON.stringify(body)});
const attempts = [
  ['plain mutation', '/graphql', json({query: 'mutation { restock(item: "plain") }'})],
  ['mixed, mutation selected', '/graphql', json({query: MIXED, operationName: 'Restock'})],
  ['mixed, query selected', '/graphql', json({query: MIXED, operationName: 'Stock'})],
  ['batch with a mutation', '/graphql', json([{query: '{ inventory { item } }'},
                                            {query: 'mutation { restock(item: "batch") }'}])],
  ['application/graphql', '/graphql', {method: 'POST',
     headers: {'Content-Type': 'application/graphql'},
     body: 'mutation { restock(item: "graphql-body") }'}],
  ['GET mutation', '/graphql?query=' + encodeURIComponent('mutation { restock(item: "get") }'),
   {method: 'GET'}],
];
(async () => {
  const log = document.getElementById('log');
  for (const [name, url, init] of attempts) {
    let outcome;
    try {
      const answer = await fetch(url, init);
      outcome = answer.status + ' ' + (await answer.text()).slice(0, 80);
    } catch (error) {
      outcome = 'refused: ' + error;
    }
    const line = document.createElement('li');
    line.textContent = name + ': ' + outcome;
    log.append(line);
  }
  const done = document.createElement('p');
  done.textContent = 'All attacks tried';
  log.after(done);
})();
</script>"""


async def home(request: Request) -> Response:
    return HTMLResponse(HOME_PAGE)


async def attack(request: Request) -> Response:
    return HTMLResponse(ATTACK_PAGE)


async def mutations_executed(request: Request) -> Response:
    return JSONResponse({"count": len(executed), "items": executed})


async def health(request: Request) -> Response:
    return Response("ok", media_type="text/plain")


app = Starlette(routes=[
    Route("/", home), Route("/attack", attack), Route("/health", health),
    Route("/mutations-executed", mutations_executed),
    Route("/graphql", GraphQLEndpoint()),
])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")

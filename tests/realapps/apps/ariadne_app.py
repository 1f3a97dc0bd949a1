"""A real Ariadne GraphQL server that answers queries by POST only, as the GraphQL-over-HTTP
spec allows (a GET, with or without ``?query=``, is refused with 405), under a page whose
script reads the shelf with a named query and variables (``POST /graphql``). Broken
(``REALAPP_MODE=broken``): the resolver raises, GraphQL answers 200 with ``errors`` and no
data, and the page, like many, logs it and stays on "Loading books…".

    python ariadne_app.py PORT
"""

import os
import sys

import uvicorn
from ariadne import QueryType, make_executable_schema
from ariadne.asgi import GraphQL
from ariadne.explorer import ExplorerHttp405
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

BROKEN = os.environ.get("REALAPP_MODE") == "broken"

SCHEMA = """
type Book { title: String!, author: String! }
type Query { books(limit: Int!): [Book!]! }
"""
query = QueryType()


@query.field("books")
def resolve_books(_: object, info: object, limit: int) -> list[dict[str, str]]:
    if BROKEN:
        raise RuntimeError("catalogue database unreachable")
    shelf = [{"title": "Dune", "author": "Frank Herbert"},
             {"title": "Solaris", "author": "Stanisław Lem"}]
    return shelf[:limit]


graphql = GraphQL(make_executable_schema(SCHEMA, query), explorer=ExplorerHttp405())

HOME_PAGE = """<!doctype html><title>Library</title>
<main><h1>Library</h1><ul id=shelf><li>Loading books…</li></ul></main>
<script>
const SHELF = 'query Shelf($limit: Int!) { books(limit: $limit) { title author } }';
fetch('/graphql', {method: 'POST', headers: {'Content-Type': 'application/json'},
                    body: JSON.stringify({query: SHELF, operationName: 'Shelf',
                                          variables: {limit: 10}})})
  .then(r => r.json())
  .then(answer => {
    if (answer.errors) { console.warn('shelf', answer.errors); return; }
    document.getElementById('shelf').innerHTML = answer.data.books
      .map(b => `<li>${b.title} by ${b.author}</li>`).join('');
  });
</script>"""


async def home(request: Request) -> Response:
    return HTMLResponse(HOME_PAGE)


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/", home), Route("/health", health),
                        Route("/graphql", graphql)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")

"""The answer to a download link that no longer works: one wording whether it was used up, has
expired or belongs to someone else (so it tells nothing about other people's links), as a page
in the sign-in page's style with a way back to Downloads, or as JSON for a client that asks for
JSON and not for HTML."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

GONE = "This download link is used up, expired or not yours: create it again."
# The page load selects the tab named here (dashboard.tabs.signin).
DOWNLOADS_URL = "/?tab=downloads"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Download link not valid - control-vector lab</title>
<style>
  body {{ font-family: system-ui, sans-serif; background: #f6f7f9; margin: 0; }}
  main {{ max-width: 30rem; margin: 12vh auto; background: #fff; padding: 2rem;
         border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
  h1 {{ font-size: 1.3rem; margin: 0 0 1.2rem; }}
  .message {{ background: #fdecea; color: #611a15; padding: .6rem .8rem; border-radius: 4px; }}
  a.back {{ display: inline-block; margin-top: 1.2rem; padding: .6rem 1rem; border-radius: 4px;
           background: #2563eb; color: #fff; text-decoration: none; }}
</style>
</head>
<body>
<main>
<h1>Control-vector lab</h1>
<p class="message" role="alert">{message}</p>
<p>Downloads are made on the app's tabs; each link works once, for the person who made it, for a
few minutes.</p>
<a class="back" id="back-to-downloads" href="{back}">Back to Downloads</a>
</main>
</body>
</html>
"""


def wants_json(request: Request) -> bool:
    """A client that accepts JSON and not HTML (a script, not a browser tab)."""
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept


def link_gone(request: Request) -> Response:
    """404 for a download link that is used up, expired or another session's."""
    if wants_json(request):
        return JSONResponse({"error": GONE}, status_code=404)
    page = _PAGE.format(message=escape(GONE), back=escape(DOWNLOADS_URL))
    return HTMLResponse(page, status_code=404)

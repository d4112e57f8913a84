"""The ``/login`` page: a plain HTML form (no Gradio, no script), so it works before sign-in."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - control-vector lab</title>
<style>
  body {{ font-family: system-ui, sans-serif; background: #f6f7f9; margin: 0; }}
  main {{ max-width: 22rem; margin: 12vh auto; background: #fff; padding: 2rem;
         border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
  h1 {{ font-size: 1.3rem; margin: 0 0 1.2rem; }}
  label {{ display: block; margin: .8rem 0 .3rem; font-weight: 600; }}
  input {{ width: 100%; box-sizing: border-box; padding: .55rem; font-size: 1rem; }}
  button {{ margin-top: 1.2rem; width: 100%; padding: .65rem; font-size: 1rem; cursor: pointer; }}
  .message {{ background: #fdecea; color: #611a15; padding: .6rem .8rem; border-radius: 4px; }}
  .note {{ color: #555; font-size: .9rem; }}
</style>
</head>
<body>
<main>
<h1>Control-vector lab</h1>
{message}
<form method="post" action="/login">
  <input type="hidden" name="next" value="{next}">
  <label for="username">Name</label>
  <input id="username" name="username" autocomplete="username" value="{name}" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<p class="note">{note}</p>
</main>
</body>
</html>
"""


def render_login_page(
    *, message: str = "", name: str = "", next_path: str = "/", note: str = ""
) -> str:
    """The sign-in form, with an optional error message in plain words."""
    shown = f'<p class="message" role="alert">{escape(message)}</p>' if message else ""
    return _PAGE.format(message=shown, next=escape(next_path), name=escape(name), note=escape(note))

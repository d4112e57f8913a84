"""The Gradio dashboard of the control-vector lab, the web application around it, and the API.

Its layers, top to bottom. A module imports modules of its own layer and of the layers named for
it here, never one above (``tests/test_imports.py`` checks this, from the source):

- ``ui`` assembles the tabs into one Blocks app: imports tabs, shared, views, state.
- ``tabs/``: one module (a package, for Compare) per tab with its layout, events and actions
  (plain functions, unit-tested without a browser): imports shared, report, views, state, web.
- shared, what several tabs use: ``common`` (user errors, the sign-in check, one heavy job per
  user, export folders), ``events`` (status lines, progress bars, identity per event),
  ``evidence`` (the evaluation panel), ``earlier`` (reopening earlier work), ``estimates`` (time
  estimates), ``jobs`` (heavy jobs as records), ``job_watch`` (a tab following a job an earlier
  page started): imports views, state, web.
- ``report``, the offline HTML evidence report: imports views only, never a tab.
- ``views/`` and ``charts`` turn engine and store values into tables, Markdown and figures:
  import no other layer.
- state: ``context`` (the process's store, loaded models and export folder) and
  ``browser_state`` (per-browser-session state): imports api (``api.host``, the interface the
  API reaches loaded models through, which the context fulfils).
- ``web/``, FastAPI around the UI (sign-in, sessions, the gate, uploads, downloads): imports api
  (the server mounts its routes) and nothing of the UI.
- ``api/``, the OpenAI-compatible API: imports web (its error types).

From outside ``web/`` and ``api/``, only what they publish is imported: ``dashboard.web``
(``current_user``, ``offer``), ``web.uploads``, ``web.download_links``, ``web.errors``;
``api.host`` and ``api.routes``. ``app.py`` stands above all of it and wires it together. Every
layer may use ``steering`` and ``storage``; no dashboard module imports sqlalchemy (the store is
the way to the database), and views, charts, report, common, context, browser_state and api
import no gradio.
"""

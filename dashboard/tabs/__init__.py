"""One module per tab of the dashboard, in the journey's order (``signin`` is the panel before);
Compare, the largest, is a package with one module per part (``compare/__init__.py``).

Each tab module holds its actions (plain functions taking the :class:`AppContext` and the
caller's :class:`BrowserSession`, unit-tested without a browser) and ``create_ui(...)``, which lays
the tab out, wires the events that stay inside it and returns a small frozen dataclass of the
components other tabs update (or nothing). A tab whose events update a tab created after it
(Examples and Build fill the Compare tab; signing in fills Review and Downloads) also has
``wire(...)``, which :mod:`dashboard.ui` calls once every tab exists.
"""

"""What the dashboard shows, built from engine and store values: tables, Markdown, text, charts.

No gradio and no events here, and nothing is read from or written to the store: each function
turns values it is given into something to display, so the tabs and the offline report
(:mod:`dashboard.report`) show the same thing the same way. Model output is returned as plain
text (for text boxes); text a user or a model wrote that goes into Markdown passes through
:func:`dashboard.views.common.md` first.

One module per tab that has presenters (``model``, ``examples``, ``compare``, ``review``,
``audit``, ``admin``), and ``common`` for what several share. Import from the module itself:
this package re-exports nothing, so a caller's imports say which tab's presenters it uses.
"""

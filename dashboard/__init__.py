"""The Gradio dashboard of the control-vector lab.

``ui`` assembles the tabs; ``tabs/<tab>.py`` holds each tab's layout, events and actions (plain
functions, unit-tested without a browser); ``views`` and ``charts`` turn engine and store values
into tables, Markdown and figures; ``report`` is the offline HTML evaluation report; ``session``
is per-browser-session state, ``context`` the process-wide store and models, ``common`` what the
tabs' actions share. Dependencies point one way: ``ui -> tabs -> views -> steering, storage``.
"""

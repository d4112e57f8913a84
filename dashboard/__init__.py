"""The Gradio dashboard of the control-vector lab, split by concern.

``context`` (process-wide: the store and the shared model), ``session`` (per-browser-session state),
``handlers`` (plain functions the UI calls, unit-tested without a browser), ``charts`` (plotly),
``report`` (the offline HTML evaluation report), ``ui`` (the Blocks layout and event wiring).
The one-way rule holds: this package uses ``steering`` and ``storage`` only through their public
functions.
"""

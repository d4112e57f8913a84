"""One module per tab of the dashboard, in the journey's order.

Each tab module holds three things: its actions (plain functions taking the :class:`AppContext`
and the caller's :class:`BrowserSession`, unit-tested without a browser), ``create_ui(...)``
(the layout, returning a frozen dataclass of the components other tabs need) and ``wire(...)``
(its event handlers, which call the actions). :mod:`dashboard.ui` creates every tab first and
wires them afterwards, so a tab can update a component of a tab created after it.
"""

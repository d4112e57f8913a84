"""Waiting for a decoding loop's ticket on the event loop, without holding a thread.

The decoding loop runs on its own thread and hands every token to the request's ticket; the
ticket calls a listener after each, which wakes the request's coroutine here. So a thousand
requests waiting for tokens hold no worker thread (the thread pool stays free for the store and
the dashboard), and a request whose caller went away or whose time is up gives its row back:
leaving :func:`tokens` early, for whatever reason, cancels the ticket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

from steering.engine.serving import Finished, RequestTimedOut, Ticket, Token


async def tokens(ticket: Ticket, deadline: float) -> AsyncGenerator[Token, None]:
    """The ticket's tokens as they arrive; afterwards ``ticket.finish_reason`` is set.

    Raises the loop's error for a failed request, and :class:`RequestTimedOut` once
    ``deadline`` (a ``time.monotonic()`` value) has passed. Leaving early cancels the ticket.
    """
    loop = asyncio.get_running_loop()
    arrived = asyncio.Event()

    def wake() -> None:  # on the decoding loop's thread
        try:
            loop.call_soon_threadsafe(arrived.set)
        except RuntimeError:  # the event loop has closed: nobody is waiting any more
            ticket.cancel()

    ticket.listen(wake)
    over = False
    try:
        while True:
            arrived.clear()  # before draining: an event put after the drain sets it again
            for event in ticket.drain():
                if isinstance(event, Token):
                    yield event
                elif isinstance(event, Finished):
                    over = True
                    ticket.finish_reason = event.reason
                    return
                else:
                    over = True
                    raise event.error
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimedOut("The request ran out of time.")
            try:
                await asyncio.wait_for(arrived.wait(), timeout=remaining)
            except TimeoutError:
                raise RequestTimedOut("The request ran out of time.") from None
    finally:
        ticket.listen(None)
        if not over:
            ticket.cancel()  # the caller left, or time ran out: free the row at the next step

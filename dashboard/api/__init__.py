"""The OpenAI-compatible API under ``/v1``: approved vectors, per request, behind API keys.

``service`` holds the request handling; ``routes`` the FastAPI app and the ASGI dispatch that
sends ``/v1`` and the readiness probes past the dashboard's session gate; ``protocol`` the
OpenAI request and response shapes; ``rate`` the per-key rate limit; ``admission`` the limits
on requests in flight and waiting; ``waiting`` how a request waits for its decoding loop's
tokens on the event loop; ``readiness`` what ``/readyz`` answers; ``host`` how the API reaches
the process's models; ``formats`` which number format a submission is served in.
"""

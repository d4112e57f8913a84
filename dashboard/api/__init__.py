"""The OpenAI-compatible API under ``/v1``: approved vectors, per request, behind API keys.

``service`` holds the request handling and the ASGI dispatch that sends ``/v1`` past the
dashboard's session gate; ``protocol`` the OpenAI request and response shapes; ``rate`` the
per-key rate limit.
"""

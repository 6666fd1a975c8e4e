"""What the browser tests count as a failed request."""


def request_problem(request) -> str | None:
    """The problem a Playwright ``requestfailed`` event reports, or None when the browser cancelled the request itself
    (``net::ERR_ABORTED``: a navigation, or the page closing while the favicon — fetched after each load — is still in
    flight). A server or network fault fails otherwise (refused, reset, empty response) or answers a status, which the
    tests check on their own."""
    if request.failure == "net::ERR_ABORTED":
        return None
    return f"request failed: {request.url} {request.failure}"

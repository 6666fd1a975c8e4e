"""The browser tests' watch on failed requests (``tests/support/browser.py``) in a real Chromium: a request the
browser cancels itself is not a problem; one the network refuses is."""

import socket

from tests.support.browser import request_problem


def test_a_refused_request_is_a_problem_and_a_cancelled_one_is_not(browser):
    with socket.socket() as probe:  # a local port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = browser.new_context()
    tab = context.new_page()
    failed = []
    tab.on("requestfailed", lambda req: failed.append(req))
    tab.route("http://cancelled.test/**", lambda route: route.abort("aborted"))
    tab.set_content(
        f'<img src="http://127.0.0.1:{port}/refused.png"><img src="http://cancelled.test/cancelled.png">',
        wait_until="load",
    )
    problems = {req.url.rsplit("/", 1)[-1]: request_problem(req) for req in failed}
    context.close()
    assert problems["cancelled.png"] is None
    assert problems["refused.png"].startswith(f"request failed: http://127.0.0.1:{port}/refused.png net::ERR_")
    assert "ERR_ABORTED" not in problems["refused.png"]

"""RequestBodyTooSlow: the 408 a too-slow HTTP/1.1 request body gets (RFC 9110 §15.5.9), a
werkzeug RequestTimeout too when werkzeug is loaded so Flask answers it itself."""
import sys

from greenh2.errors import PeerGone, RequestBodyTooLarge, RequestBodyTooSlow, TooSlow, body_too_slow


def test_without_werkzeug(monkeypatch):
    monkeypatch.delitem(sys.modules, "werkzeug.exceptions", raising=False)
    exc = body_too_slow()
    assert type(exc) is RequestBodyTooSlow and isinstance(exc, TooSlow)
    assert isinstance(exc, PeerGone) and exc.status == 408 and "min_request_rate" in str(exc)


def test_is_werkzeugs_408_when_werkzeug_is_loaded():
    from werkzeug.exceptions import RequestTimeout
    exc = body_too_slow()
    assert isinstance(exc, RequestBodyTooSlow) and isinstance(exc, RequestTimeout)
    assert exc.code == 408 and exc.get_response().status_code == 408
    assert type(body_too_slow()) is type(exc)  # one class, made once
    assert not isinstance(exc, RequestBodyTooLarge)  # the two flavours do not share a class

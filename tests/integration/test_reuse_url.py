"""Reuse with a different URL (issue 15 item 2, PROTOCOL.md open.reuse): opening a live name with
another URL is an error naming both URLs (url_mismatch), unless the open asks for any connection of
that name (reuse: "any"); reuse: false keeps answering conn_exists."""

import pytest

from wsf_fixtures import RpcError


def test_same_name_other_url_is_url_mismatch_naming_both(ctl, echo):
    a, b = echo.url + "group-a", echo.url + "group-b"
    ctl.call("open", conn="vu-1", url=a)
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="vu-1", url=b)
    err = e.value
    assert err.code == "url_mismatch"
    assert err.details == {"conn": "vu-1", "url": a, "requested_url": b}, err.as_dict()
    assert a in err.message and b in err.message
    # Nothing changed: the live connection is still there, to its URL, not counted as reused.
    st = ctl.call("status", conn="vu-1")
    assert st["state"] == "open" and st["url"] == a and st["reused_count"] == 0


def test_same_url_is_reused_by_default_and_any_url_with_reuse_any(ctl, echo):
    a, b = echo.url + "a", echo.url + "b"
    ctl.call("open", conn="vu-2", url=a)
    assert ctl.call("open", conn="vu-2", url=a)["reused"] is True
    assert ctl.call("open", conn="vu-2", url=a, reuse=True)["reused"] is True
    r = ctl.call("open", conn="vu-2", url=b, reuse="any")
    assert r["reused"] is True and r["conn"] == "vu-2"
    assert ctl.call("status", conn="vu-2")["url"] == a


def test_reuse_false_and_bad_values(ctl, echo):
    ctl.call("open", conn="vu-3", url=echo.url)
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="vu-3", url=echo.url, reuse=False)
    assert e.value.code == "conn_exists"
    with pytest.raises(RpcError) as e:
        ctl.call("open", conn="vu-3", url=echo.url + "other", reuse=False)
    assert e.value.code == "conn_exists"
    for bad in ("all", 1, "ANY"):
        with pytest.raises(RpcError) as e:
            ctl.call("open", conn="vu-4", url=echo.url, reuse=bad)
        assert e.value.code == "bad_request" and "reuse" in e.value.message


def test_a_closed_name_opens_again_with_any_url(ctl, echo):
    ctl.call("open", conn="vu-5", url=echo.url + "first")
    ctl.call("close", conn="vu-5")
    r = ctl.call("open", conn="vu-5", url=echo.url + "second")
    assert r["reused"] is False
    assert ctl.call("status", conn="vu-5")["url"] == echo.url + "second"

"""JMeter's own proxy settings carry over to the wsfleet samplers (issue 17), in real JMeter 5.6.3
(non-GUI) started with `-H 127.0.0.1 -P <port>` in front of a real tinyproxy (Debian) in front of the
mock gateway: the sessions go through the proxy, `-N` exempts a host, and a CONNECT the proxy refuses
(tinyproxy's ConnectPort rule) is a failed sample whose code is the proxy's HTTP status and whose
message names the proxy phase."""

import json
import os
import sys

import pytest

from jmeter_harness import HERE, MockGateway, run_plan
from wsf_fixtures import Daemon

# The tinyproxy the integration tests start, with a generated config: one way to run it.
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))
from test_proxy import TINYPROXY, TinyProxy  # noqa: E402

pytestmark = pytest.mark.skipif(not os.access(TINYPROXY, os.X_OK),
                                reason="tinyproxy not installed (.ci/install-deps --test installs it)")

PLAN = os.path.join(HERE, "plans", "proxy.jmx")
THREADS = 3


def run(jmeter, tmp_path, daemon, gw, proxy, *extra):
    return run_plan(PLAN, str(tmp_path), {"wsfleet.transport": "unix", "wsfleet.socket": daemon.socket,
                                          "url": gw.url, "threads": THREADS},
                    xml=True, home=jmeter, jmeter_args=["-H", "127.0.0.1", "-P", str(proxy.port)] + list(extra))


def open_params(row):
    """The open request the sampler sent (its sampler data: `open {json}`)."""
    data = row["xml"].find("samplerData").text
    assert data.startswith("open "), data
    return json.loads(data[len("open "):])


def test_dash_h_and_dash_p_send_every_session_through_the_proxy(jmeter, tmp_path):
    with Daemon() as d, MockGateway() as gw, TinyProxy() as proxy:
        r = run(jmeter, tmp_path, d, gw, proxy)
        connects = proxy.connects()
    assert r.returncode == 0, r.output
    opens = r.by_label("open")
    assert len(opens) == THREADS and all(o["success"] == "true" and o["responseCode"] == "101" for o in opens), \
        r.describe()
    for o in opens:
        assert open_params(o)["proxy"] == proxy.url, o
    assert connects == ["127.0.0.1:%d" % gw.port] * THREADS, proxy.log()


def test_dash_n_exempts_the_gateway_host_so_the_proxy_sees_nothing(jmeter, tmp_path):
    with Daemon() as d, MockGateway() as gw, TinyProxy() as proxy:
        r = run(jmeter, tmp_path, d, gw, proxy, "-N", "localhost|127.0.0.1")
        connects = proxy.connects()
    assert r.returncode == 0, r.output
    opens = r.by_label("open")
    assert len(opens) == THREADS and all(o["success"] == "true" for o in opens), r.describe()
    assert all("proxy" not in open_params(o) for o in opens), r.describe()
    assert connects == [], proxy.log()


def test_a_refused_connect_is_a_failed_sample_with_the_proxys_status_naming_the_proxy(jmeter, tmp_path):
    with Daemon() as d, MockGateway() as gw, TinyProxy(connect_ports=(gw.port + 1 if gw.port < 65535 else 1,)) as proxy:
        r = run(jmeter, tmp_path, d, gw, proxy)
        log = proxy.log()
    assert r.returncode == 0, r.output
    opens = r.by_label("open")
    assert len(opens) == THREADS, r.describe()
    for o in opens:
        assert o["success"] == "false", o
        assert o["responseCode"] == "403", o  # tinyproxy's answer to a port outside ConnectPort
        msg = o["responseMessage"]
        assert msg.startswith("handshake_failed (phase proxy): HTTP 403"), msg
        assert "proxy 127.0.0.1:%d" % proxy.port in msg, msg  # the daemon's words name the proxy itself
        err = json.loads(o["responseData"])
        assert err["phase"] == "proxy" and err["http_status"] == 403, err
    assert "CONNECT" in log, log

"""The metrics endpoint of a gateway that is built but not started, scraped over real loopback HTTP.

An event through the door is counted for each actor that got it and waits in the outbox (no broker
is connected: the broker gauges say so); every inference of the humidity model, and only those, lands
in the histogram; a port that is taken costs the metrics, never the gateway; the outbox tells its
backlog, held publications included, by the clock it stamps rows with.
"""

from __future__ import annotations

import logging
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import Gateway
from gateway.audit import AuditLog
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.inference.runner import INFERENCE_OBSERVERS
from gateway.messages import Event, Publication
from gateway.metrics import MetricsServer, serve
from gateway.outbox import Outbox
from gateway.trust import Trusted


def build(tmp_path: Path, listen: str) -> Gateway:
    config = GatewayConfig.model_validate(
        {
            "site": "s",
            "gateway": "g",
            "mqtt": {"host": "127.0.0.1", "port": 1},
            "storage": str(tmp_path),
            "metrics": {"listen": listen},
        }
    )
    trusted = Trusted.load(config.trust.public_key, config.policy, config.trust.models_dir)
    return Gateway(config, trusted, AuditLog(tmp_path / "audit.jsonl"))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    built = build(tmp_path, "127.0.0.1:0")
    yield built
    built.outbox.close()
    built.audit.close()


def scrape(server: MetricsServer) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def test_events_outbox_and_broker_as_a_scrape_sees_them(gateway: Gateway) -> None:
    server = serve(gateway)
    assert server is not None
    try:
        gateway.handle(Event("air.band_changed", "pm-1", {"band": "poor", "previous": "fair", "pm25": 31.0}))
        gateway.handle(Event("flood.alarm", "kade", {"level": "alarm", "depth_mm": 512.0, "secret": 1}))
        samples = scrape(server)
    finally:
        server.close()
    assert samples["edge_gateway_events_total{actor=gemeente,type=air.band_changed}"] == 1
    assert samples["edge_gateway_events_total{actor=brandweer,type=flood.alarm}"] == 1
    assert samples["edge_gateway_events_total{actor=rijkswaterstaat,type=flood.alarm}"] == 1
    assert "edge_gateway_events_total{actor=bewoners,type=air.band_changed}" not in samples
    assert samples["edge_gateway_fields_dropped_total{actor=brandweer,field=secret}"] == 1
    assert samples["edge_gateway_outbox_depth{}"] == 3
    assert samples["edge_gateway_outbox_oldest_age_seconds{}"] >= 0
    assert samples["edge_gateway_broker_connected{}"] == 0
    assert samples["edge_gateway_broker_rejected{}"] == 0
    assert samples["edge_gateway_info{gateway=g,site=s,version=" + version(samples) + "}"] == 1


def version(samples: dict[str, float]) -> str:
    (key,) = [k for k in samples if k.startswith("edge_gateway_info{")]
    return key.rsplit("version=", 1)[1].rstrip("}")


def test_every_inference_and_only_inference_is_timed(gateway: Gateway) -> None:
    server = serve(gateway)
    assert server is not None
    corrector = gateway.trusted.models.value.corrector
    try:
        for humidity in (60.0, 80.0, 97.0):
            corrector.correct(20.0, humidity)
        samples = scrape(server)
    finally:
        server.close()
    assert samples["edge_gateway_inference_seconds_count{model=pm_humidity}"] == 3
    assert 0 < samples["edge_gateway_inference_seconds_sum{model=pm_humidity}"] < 3.0
    assert INFERENCE_OBSERVERS == []  # closed: no observer left behind


def test_a_taken_port_costs_the_metrics_not_the_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        gateway = build(tmp_path, f"127.0.0.1:{port}")
        try:
            with caplog.at_level(logging.ERROR, logger="gateway.metrics"):
                assert serve(gateway) is None
        finally:
            gateway.outbox.close()
            gateway.audit.close()
    (record,) = [r for r in caplog.records if r.name == "gateway.metrics"]
    assert record.getMessage().startswith(f"metrics: cannot listen on 127.0.0.1:{port} (")
    assert "running without metrics" in record.getMessage()


@pytest.mark.parametrize("listen", ["9108", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ":9108"])
def test_a_listen_address_without_host_and_port_is_a_config_error(tmp_path: Path, listen: str) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"site: s\ngateway: g\nmqtt: {{host: 127.0.0.1}}\nstorage: /tmp\nmetrics: {{listen: '{listen}'}}\n"
    )
    with pytest.raises(ConfigError, match=r"gw\.yaml:5: metrics\.listen"):
        load_config(path)


def test_ipv6_listen_address() -> None:
    config = GatewayConfig.model_validate(
        {
            "site": "s",
            "gateway": "g",
            "mqtt": {"host": "::1"},
            "storage": "/tmp",
            "metrics": {"listen": "[::1]:9108"},
        }
    )
    assert config.metrics is not None and config.metrics.address == ("::1", 9108)


def test_the_backlog_counts_stored_and_held_publications_and_ages_the_oldest(tmp_path: Path) -> None:
    now = [1000.0]
    box = Outbox(tmp_path / "o.sqlite3", clock=lambda: now[0])
    assert box.backlog() == (0, None)
    box.put([Publication("a", "t/a", b"{}")])
    now[0] = 1010.0
    box.put([Publication("b", "t/b", b"{}")])
    now[0] = 1012.5
    assert box.backlog() == (2, 12.5)
    (first, _) = box.pending()
    box.ack(first.seq)
    assert box.backlog() == (1, 2.5)
    box.close()
    assert box.backlog() == (0, None)

"""Injected faults: by probability or for the next N requests, switchable per test."""

from __future__ import annotations

import time

import pytest
import requests


@pytest.fixture
def sim(sim_factory):
    return sim_factory("coinbase", seed=3, rate_limit=False)


def trades_url(sim, product="BTC-USD"):
    return f"{sim.url}/products/{product}/trades"


def test_5xx_burst_for_the_next_n_requests_then_recovery(sim):
    sim.configure(fault_5xx_next=2)
    first, second, third = (requests.get(trades_url(sim), timeout=10) for _ in range(3))
    assert first.status_code == second.status_code == 503
    assert first.json() == {"message": "Service Unavailable"}
    assert third.status_code == 200
    assert len(third.json()) == 1000
    assert sim.stats.faults["5xx"] == 2


def test_binance_5xx_and_429_storm_use_binance_bodies(sim_factory):
    binance = sim_factory("binance", seed=3)
    binance.configure(fault_5xx_next=1, fault_429_next=1, storm_retry_after=7)
    url = f"{binance.url}/api/v3/trades?symbol=BTCUSDT"
    overloaded = requests.get(url, timeout=10)
    assert overloaded.status_code == 503
    assert overloaded.json()["code"] == -1008
    storm = requests.get(url, timeout=10)
    assert storm.status_code == 429
    assert storm.json()["code"] == -1003
    assert storm.headers["Retry-After"] == "7"
    assert requests.get(url, timeout=10).status_code == 200


def test_429_storm_by_probability(sim):
    sim.configure(fault_429=1.0)
    responses = [requests.get(trades_url(sim), timeout=10) for _ in range(5)]
    assert {r.status_code for r in responses} == {429}
    assert responses[0].json() == {"message": "Public rate limit exceeded"}
    sim.configure(fault_429=0.5)
    statuses = [requests.get(f"{sim.url}/products", timeout=10).status_code for _ in range(60)]
    assert 10 < statuses.count(429) < 50


def test_html_error_page(sim):
    sim.configure(fault_html_next=1)
    response = requests.get(trades_url(sim), timeout=10)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_connection_reset_then_normal_service(sim):
    sim.configure(fault_reset_next=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(trades_url(sim), timeout=10)
    assert requests.get(trades_url(sim), timeout=10).status_code == 200


def test_body_cut_mid_way(sim):
    sim.configure(fault_truncate_next=1)
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(trades_url(sim), timeout=10).json()
    assert len(requests.get(trades_url(sim), timeout=10).json()) == 1000


def test_slow_response_trips_a_client_timeout(sim):
    sim.configure(fault_slow_next=1, slow_seconds=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(trades_url(sim), timeout=0.2)
    started = time.monotonic()
    assert requests.get(trades_url(sim), timeout=5).status_code == 200
    assert time.monotonic() - started < 0.5


def test_latency_distribution_applies_to_every_request(sim):
    sim.configure(latency="uniform:40:60")
    session = requests.Session()
    for _ in range(3):
        started = time.monotonic()
        session.get(f"{sim.url}/products", timeout=5)
        assert time.monotonic() - started >= 0.04
    sim.configure(latency="lognormal:5:0.3")
    session.get(f"{sim.url}/products", timeout=5)
    with pytest.raises(ValueError, match="latency"):
        sim.configure(latency="gaussian:1:2")


def test_faults_can_target_one_path_prefix(sim):
    sim.configure(fault_5xx=1.0, fault_path="/products/ETH-USD")
    assert requests.get(trades_url(sim, "ETH-USD"), timeout=10).status_code == 503
    assert requests.get(trades_url(sim, "BTC-USD"), timeout=10).status_code == 200
    assert requests.get(f"{sim.url}/products", timeout=10).status_code == 200


def test_configure_rejects_unknown_or_foreign_settings(sim):
    with pytest.raises(TypeError, match="fault_typo"):
        sim.configure(fault_typo=1)
    with pytest.raises(ValueError, match="binance_us"):
        sim.configure(binance_us=True)
    with pytest.raises(ValueError, match="probability"):
        sim.configure(fault_reset=2.0)

"""`/metrics` in the Prometheus exposition format, for operations.

Request rate and latency come from the HTTP middleware (dispatch.api.edge); queue length
by acuity, available vehicles by district and kind, websocket subscribers and stream lag
are read when scraped.
Each app has its own registry, so several apps in one process never share series.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import Scope

# Latency buckets around the intake target (p99 <= 25 ms) and the handover target (100 ms).
_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The service's Prometheus series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "dispatch_http_requests", "HTTP requests answered",
            ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "dispatch_http_request_seconds", "HTTP request latency",
            ["method", "route"], buckets=_BUCKETS, registry=self.registry)
        # one entry per series the two above hold (route templates, never raw paths)
        self._request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.queue = Gauge(
            "dispatch_queue_calls", "Calls waiting for a vehicle",
            ["acuity", "transport_class"], registry=self.registry)
        self.live_calls = Gauge(
            "dispatch_live_calls", "Calls by status", ["status"], registry=self.registry)
        self.vehicles = Gauge(
            "dispatch_vehicles", "Vehicles by status, kind and home district",
            ["status", "kind", "district"], registry=self.registry)
        self.subscribers = Gauge(
            "dispatch_websocket_subscribers", "Websocket subscriptions on this instance",
            ["channel"], registry=self.registry)
        self.stream_lag = Gauge(
            "dispatch_stream_lag_seconds",
            "Age of the newest stream entry this instance has not yet fanned out",
            registry=self.registry)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one HTTP request (by route template, not raw path)."""
        key = (method, route, status)
        series = self._request_series.get(key)
        if series is None:  # labels() costs more than the count: kept per series
            series = (self.requests.labels(method, route, str(status)),
                      self.latency.labels(method, route))
            self._request_series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    async def scrape(
        self, *, conn: asyncpg.Connection,
        subscribers: Mapping[str, int] | None = None, stream_lag_s: float | None = None,
    ) -> bytes:
        """Refresh the gauges read from the record and render the exposition."""
        self.queue.clear()
        for r in await conn.fetch(
            """SELECT acuity, transport_class, count(*) AS n FROM calls
                WHERE status = 'queued' GROUP BY acuity, transport_class"""):
            self.queue.labels(str(r["acuity"]), r["transport_class"]).set(r["n"])
        self.live_calls.clear()
        for r in await conn.fetch(
            """SELECT status, count(*) AS n FROM calls
                WHERE status IN ('queued', 'assigned', 'active') GROUP BY status"""):
            self.live_calls.labels(r["status"]).set(r["n"])
        self.vehicles.clear()
        for r in await conn.fetch(
            """SELECT v.status, v.kind, coalesce(s.district_id, 'none') AS district,
                      count(*) AS n
                 FROM vehicles v LEFT JOIN stations s ON s.id = v.station_id
                GROUP BY 1, 2, 3"""):
            self.vehicles.labels(r["status"], r["kind"], r["district"]).set(r["n"])
        self.subscribers.clear()
        for channel, n in (subscribers or {}).items():
            self.subscribers.labels(channel).set(n)
        if stream_lag_s is not None:
            self.stream_lag.set(stream_lag_s)
        return generate_latest(self.registry)


def route_of(scope: Scope) -> str:
    # The router records the matched route in the scope; its template keeps label
    # cardinality bounded (/v1/calls/{call_id}, not one series per call).
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))

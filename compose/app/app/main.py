"""The reference backend: a minimal FastAPI service instrumented the way the
deployment's backend is (shared/reference/deployment.md, Application).

- Traces, metrics and logs go over OTLP (the SDK's OTEL_* variables decide
  where; the sampler comes from OTEL_TRACES_SAMPLER/OTEL_TRACES_SAMPLER_ARG),
  over gRPC as the deployment's backend sends them (port 4317), or over
  http/protobuf (4318) when OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL says so.
- http_request_duration_seconds is a histogram with the deployment's buckets
  and exemplars of the active span; http_requests_total, http_errors_total
  and http_active_connections sit beside it.
- loguru writes JSON to stdout with trace_id/span_id, and the same records go
  through the OpenTelemetry logging bridge.
- pyroscope-io profiles the process and pyroscope-otel links profiles to
  spans (span_id sample label, span attribute pyroscope.profile.id).

Endpoints: GET /api/delay/{fast,med,slow}, /api/delay/health, /health.
"""

import json
import logging
import os
import random
import sys
import time
from datetime import datetime, timezone

from fastapi import FastAPI, HTTPException, Request
from loguru import logger
from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

SERVICE = os.environ.get("OTEL_SERVICE_NAME", "durable-code-backend")
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
DELAYS = {"fast": (0.05, 0.1), "med": (0.5, 1.0), "slow": (2.0, 3.0)}



def _protocol(signal):
    """The signal's OTLP protocol, as the specification chooses it: its own
    variable, then the general one; gRPC when neither is set, as the
    deployment's backend exports."""
    protocol = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    if protocol not in ("grpc", "http/protobuf"):
        sys.exit(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL is {protocol!r}: use grpc or http/protobuf")
    return protocol


if _protocol("TRACES") == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
if _protocol("METRICS") == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
else:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
if _protocol("LOGS") == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
else:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

resource = Resource.create({"service.name": SERVICE, "service.namespace": "durable-code"})

tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))

if os.environ.get("PYROSCOPE_SERVER_ADDRESS"):
    import pyroscope
    from pyroscope.otel import PyroscopeSpanProcessor

    pyroscope.configure(
        application_name=SERVICE,
        server_address=os.environ["PYROSCOPE_SERVER_ADDRESS"],
        sample_rate=100,
        tags={"service_namespace": "durable-code"} if os.environ.get("PYROSCOPE_NAMESPACE_TAG") else {},
    )
    tracer_provider.add_span_processor(PyroscopeSpanProcessor())
trace.set_tracer_provider(tracer_provider)

export_ms = int(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "15000"))
meter_provider = MeterProvider(
    resource=resource,
    metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=export_ms)],
    views=[
        View(
            instrument_name="http_request_duration_seconds",
            aggregation=ExplicitBucketHistogramAggregation(BUCKETS),
        )
    ],
)
metrics.set_meter_provider(meter_provider)
meter = metrics.get_meter("durable-code-backend")
duration = meter.create_histogram("http_request_duration_seconds", unit="s", description="request latency")
requests_total = meter.create_counter("http_requests_total", description="requests")
errors_total = meter.create_counter("http_errors_total", description="requests answered >= 400")
active = meter.create_up_down_counter("http_active_connections", description="requests in flight")

logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
set_logger_provider(logger_provider)
otel_handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)


def _span_ids():
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return "", ""
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def _json_sink(message):
    """loguru's record as the deployment writes it: one JSON object a line."""
    r = message.record
    trace_id, span_id = _span_ids()
    line = {
        "timestamp": r["time"].astimezone(timezone.utc).isoformat(),
        "level": r["level"].name,
        "message": r["message"],
        "logger": r["name"],
        "module": r["module"],
        "function": r["function"],
        "line": r["line"],
        "trace_id": trace_id,
        "span_id": span_id,
        "extra": r["extra"],
    }
    sys.stdout.write(json.dumps(line, default=str) + "\n")
    sys.stdout.flush()


def _otel_sink(message):
    """The same record through the OpenTelemetry logging bridge, in the
    request's span context."""
    r = message.record
    record = logging.LogRecord(
        name=r["name"] or "app",
        level=r["level"].no,
        pathname=r["file"].path,
        lineno=r["line"],
        msg=r["message"],
        args=None,
        exc_info=None,
        func=r["function"],
    )
    otel_handler.emit(record)


logger.remove()
logger.add(_json_sink, level="INFO")
logger.add(_otel_sink, level="INFO")

app = FastAPI(title="durable-code reference backend")


@app.middleware("http")
async def record_metrics(request: Request, call_next):
    route = request.url.path
    active.add(1)
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        elapsed = time.perf_counter() - started
        attrs = {"method": request.method, "path": route, "status_code": str(status)}
        duration.record(elapsed, attrs)
        requests_total.add(1, attrs)
        if status >= 400:
            errors_total.add(1, attrs)
        active.add(-1)


@app.get("/health")
async def health():
    return {"status": "healthy", "time": datetime.now(timezone.utc).isoformat()}


@app.get("/api/delay/health")
async def delay_health():
    return {"status": "healthy"}


def _burn(seconds: float):
    """Keeps the CPU busy, so the request's span has on-CPU samples."""
    until = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < until:
        x = (x * 31 + 7) % 1_000_003
    return x


_error_calls = 0


@app.get("/api/error")
async def error(ratio: float = 1.0):
    """Answers 500 for `ratio` of the calls, spread evenly (call k fails when
    floor(k * ratio) grows), so an alert's error burst is exact."""
    global _error_calls
    if not 0.0 <= ratio <= 1.0:
        raise HTTPException(status_code=400, detail=f"ratio must be within 0 and 1, got {ratio}")
    _error_calls += 1
    k = _error_calls
    failed = int(k * ratio) > int((k - 1) * ratio)
    logger.info("GET /api/error answered {}", 500 if failed else 200)
    if failed:
        raise HTTPException(status_code=500, detail="injected error")
    return {"status": "ok"}


@app.get("/api/delay/{speed}")
async def delay(speed: str):
    if speed not in DELAYS:
        raise HTTPException(status_code=404, detail=f"unknown delay {speed!r}")
    low, high = DELAYS[speed]
    seconds = random.uniform(low, high)
    started = time.perf_counter()
    _burn(seconds)
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    logger.info("GET /api/delay/{} completed in {} ms", speed, elapsed_ms)
    trace_id, _ = _span_ids()
    return {"endpoint": speed, "delay_ms": elapsed_ms, "trace_id": trace_id}


FastAPIInstrumentor.instrument_app(app)

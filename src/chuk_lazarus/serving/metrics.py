"""`GET /metrics`: Prometheus text, under vLLM's metric names wherever vLLM has one.

Dashboards and gateway scrapers (KServe, llm-d, the Gateway API inference extension) are built on
vLLM's names and semantics, so a lazarus replica is read by them unchanged. Names of our own start with
`lazarus:` and are listed in the README. Every series is labelled with `model_name`.

What is observed, and where:
  - the gauges (running, waiting, KV-cache usage, slots) are read from the engine at scrape time;
  - per finished choice: tokens, prefix-cache queries and hits, `request_success` by finish reason, and
    the latency histograms, from the `Finish` the engine reports (its timings are the engine's own);
  - per request: refusals (overload) and errors, by protocol and error kind, once the response is over.

Each app has its own registry (never the process-wide default), so several apps can share a process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..core.types import Finish, LoadStats
from .request_context import RequestRecord

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# vLLM's buckets (vllm/v1/metrics/loggers.py), so histograms line up with theirs on one dashboard.
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
               20.0, 40.0, 80.0)  # fmt: skip
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                   120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)  # fmt: skip


def token_buckets(context_length: int) -> tuple[int, ...]:
    """1, 2, 5, 10, 20, 50, ... up to the context length (vLLM's `build_1_2_5_buckets`)."""
    out: list[int] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > context_length:
                return tuple(out) or (1,)
            out.append(value)
        exponent += 1


class _LoadCollector(Collector):
    """The gauges, read from the engine when scraped (nothing while the model is still loading)."""

    def __init__(self, model_name: str, load: Callable[[], LoadStats | None]) -> None:
        self.model_name = model_name
        self.load = load

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self.load()
        if stats is None:
            return
        usage = stats.kv_tokens / stats.kv_capacity if stats.kv_capacity else 0.0
        for name, doc, value in (
            ("vllm:num_requests_running", "Requests holding a slot (prefilling or decoding).", stats.active),
            ("vllm:num_requests_waiting", "Requests admitted and waiting for a slot.", stats.queued),
            ("vllm:kv_cache_usage_perc", "KV-cache cells held by running requests over all cells (0-1).", usage),
            ("lazarus:slots", "Sequences that can run at once (--parallel).", stats.slots),
            ("lazarus:queue_limit", "Waiting requests allowed before new ones are refused.", stats.max_queue),
            ("lazarus:prompt_cache_bytes", "Bytes of prompt states kept beyond the slots (--cache-ram).",
             stats.prompt_cache_bytes),
            ("lazarus:prompt_cache_entries", "Prompt states kept beyond the slots.", stats.prompt_cache_entries),
            ("lazarus:prompt_cache_limit_bytes", "The byte bound of that cache (0: off).",
             stats.prompt_cache_limit_bytes),
        ):  # fmt: skip
            family = GaugeMetricFamily(name, doc, labels=["model_name"])
            family.add_metric([self.model_name], value)
            yield family


class ServingMetrics:
    def __init__(self, model_name: str, context_length: int, load: Callable[[], LoadStats | None]) -> None:
        self.model_name = model_name
        self.registry = CollectorRegistry()
        self.registry.register(_LoadCollector(model_name, load))
        labels = ["model_name"]

        def counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, [*labels, *extra], registry=self.registry)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, labels, buckets=buckets, registry=self.registry)

        self.prompt_tokens = counter("vllm:prompt_tokens", "Prompt tokens read (computed or cached).")
        self.generation_tokens = counter("vllm:generation_tokens", "Tokens generated.")
        self.prefix_queries = counter("vllm:prefix_cache_queries", "Prompt tokens looked up in the prefix cache.")
        self.prefix_hits = counter("vllm:prefix_cache_hits", "Prompt tokens found in the prefix cache.")
        self.success = counter("vllm:request_success", "Choices finished, by finish reason.", ("finished_reason",))
        self.refused = counter(
            "lazarus:requests_refused", "Requests refused as overloaded (queue full, shutting down, loading).",
            ("protocol",),
        )  # fmt: skip
        self.errors = counter(
            "lazarus:request_errors", "Requests answered with an error (refusals apart), or failed mid-stream.",
            ("protocol", "type"),
        )  # fmt: skip
        self.ttft = histogram("vllm:time_to_first_token_seconds", "From arrival to the first token.", TTFT_BUCKETS)
        self.itl = histogram("vllm:inter_token_latency_seconds", "Between successive tokens of a choice.", ITL_BUCKETS)
        self.e2e = histogram("vllm:e2e_request_latency_seconds", "From arrival to the last token.", LATENCY_BUCKETS)
        self.queue = histogram("vllm:request_queue_time_seconds", "Waiting for a slot.", LATENCY_BUCKETS)
        self.prefill = histogram("vllm:request_prefill_time_seconds", "Reading the prompt.", LATENCY_BUCKETS)
        self.decode = histogram("vllm:request_decode_time_seconds", "From the first token to the last.", LATENCY_BUCKETS)
        lengths = token_buckets(context_length)
        self.prompt_length = histogram("vllm:request_prompt_tokens", "Prompt length per choice.", lengths)
        self.generation_length = histogram(
            "vllm:request_generation_tokens", "Generated length per choice.", lengths
        )

    def finished(self, finish: Finish) -> None:
        """One choice ended (a choice that failed or was cancelled has no `Finish`)."""
        name = self.model_name
        usage, timings = finish.usage, finish.timings
        self.prompt_tokens.labels(name).inc(usage.prompt_tokens)
        self.generation_tokens.labels(name).inc(usage.completion_tokens)
        self.prefix_queries.labels(name).inc(usage.prompt_tokens)
        self.prefix_hits.labels(name).inc(usage.cached_prompt_tokens)
        self.success.labels(name, finish.reason).inc()
        self.ttft.labels(name).observe((timings.queued_ns + timings.prompt_ns) / 1e9)
        self.e2e.labels(name).observe((timings.queued_ns + timings.prompt_ns + timings.generation_ns) / 1e9)
        self.queue.labels(name).observe(timings.queued_ns / 1e9)
        self.prefill.labels(name).observe(timings.prompt_ns / 1e9)
        self.decode.labels(name).observe(timings.generation_ns / 1e9)
        self.prompt_length.labels(name).observe(usage.prompt_tokens)
        self.generation_length.labels(name).observe(usage.completion_tokens)
        itl = self.itl.labels(name)
        for gap in timings.token_gaps_ns:
            itl.observe(gap / 1e9)

    def request_over(self, record: RequestRecord) -> None:
        for finish in record.finishes:
            self.finished(finish)
        if record.aborted:  # vLLM's reason for a request that ended without a finish of its own
            self.success.labels(self.model_name, "abort").inc(record.aborted)
        if record.error == "overloaded":
            self.refused.labels(self.model_name, record.protocol).inc()
        elif record.error is not None:
            self.errors.labels(self.model_name, record.protocol, record.error).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

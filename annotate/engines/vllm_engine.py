"""The ``vllm`` engine: vLLM replicas behind Ray Data (``ray.data.llm``), fed as a stream.

One VLLMEngine keeps one Ray Data LLM pipeline running from its first ``generate`` call to ``close()``,
so the vLLM engine starts once (30-60 s for a tiny model on CPU, minutes for a large one on GPUs) however
many ``generate`` calls follow (one per manifest for annotate, one per attempt for verify):

    driver: requests -> rows -> Ray queue (bounded) ─┐                       ┌─> results by row key
    Ray Data: queue source -> preprocess -> multimodal -> chat template -> vLLM (replicas; it tokenizes)
              -> postprocess ─> iter_rows (collector thread) ─┘

- one row per request, with its own ``seed`` (and ``structured_outputs`` when the request has a
  ``json_schema``) in that row's sampling params; audio as an OpenAI ``input_audio`` part (base64 WAV);
- ``replicas`` engine actors (one per GPU group), ``tensor_parallel_size`` GPUs each; on CPU a placement
  group of CPU bundles (Ray would otherwise wait for a GPU) and oversubscribed logical CPUs so every
  stage actor gets one on a small machine;
- ``should_continue_on_error``: a request vLLM rejects (e.g. longer than ``max_model_len``) comes back as
  an error result; results carry token counts and the engine's seconds for the request;
- order is preserved, so the rows of a cut come back together. Ray Data starts a batch only when it is
  full (or the input ended), so each ``generate`` call ends its stream with a few 1-token filler rows that
  push its last requests through; fillers' results are dropped.

Reasoning models' ``<think>`` text is returned as generated (the verifier strips it). Ray worker logs
stay in Ray's session log directory (``/tmp/ray/session_latest/logs``), not on the driver's terminal.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from annotate.engines.base import EngineDown, GenerationRequest, GenerationResult, with_audio
from annotate.engines.configs import VLLMEngineConfig
from clsp.errors import ClspError, one_line

log = logging.getLogger(__name__)

FILLER = -1  # row key of filler rows
FILLER_MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "."}]}]
FILLER_PARAMS = {"temperature": 0.0, "top_p": 1.0, "top_k": 1, "max_tokens": 1, "seed": 0,
                 "structured_outputs": None}
_END = object()


def sampling_params(req: GenerationRequest) -> dict[str, Any]:
    """The row's vLLM ``SamplingParams`` keyword arguments: seeded, structured outputs when a schema is set.
    Every row has the same keys and typed values (a missing int would come back from Arrow as a float)."""
    s = req.sampling
    return {"temperature": float(s.temperature), "top_p": float(s.top_p), "top_k": int(s.top_k),
            "max_tokens": int(s.max_tokens), "seed": int(req.seed),
            "structured_outputs": None if req.json_schema is None else {"json": json.dumps(req.json_schema)}}


def request_messages(req: GenerationRequest) -> list[dict[str, Any]]:
    """OpenAI-style messages with the audio as an ``input_audio`` part (Captioner mode: audio only).

    Every content is a list of parts (a string becomes one text part): Ray Data stores the rows as Arrow
    tables and cannot put a string content and a list content in one column."""
    if not req.messages and req.audio is None:
        raise ValueError("the request has neither messages nor audio")
    out = []
    for m in with_audio(req.messages, req.audio):
        content = m.get("content")
        if isinstance(content, str):
            m = {**m, "content": [{"type": "text", "text": content}]}
        out.append(m)
    return out


def _encode(key: int, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    # Messages mix string and list contents, which Arrow cannot hold in one column: ship JSON text.
    return {"row_key": key, "payload": json.dumps({"messages": messages, "sampling_params": params})}


def check_model_source(model: str) -> None:
    """Fail fast, before Ray and vLLM start (minutes of retries and tracebacks otherwise), when ``model`` is
    neither a local model folder nor fetchable from the Hugging Face hub (offline, or a wrong id)."""
    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise EngineDown(f"engine 'vllm': {p} is not a model folder (no config.json)")
        return
    if p.exists() or model.startswith(("/", ".", "~")) or model.count("/") > 1:
        raise EngineDown(f"engine 'vllm': model folder {p} not found")
    try:
        from huggingface_hub import hf_hub_download

        hf_hub_download(model, "config.json")
    except Exception as e:  # offline and not cached, no network, unknown id, gated
        raise EngineDown(f"engine 'vllm': model {model!r} is not a local folder and cannot be fetched from the "
                         f"Hugging Face hub ({one_line(f'{type(e).__name__}: {e}', 200)}); download it first "
                         "or give a local path") from None


# --- worker side (runs inside Ray Data tasks) -------------------------------------------------------
class OpaqueRow:
    """A value Arrow cannot store, put in every row so that Ray Data keeps the rows as pickled Python
    objects between the LLM stages instead of Arrow structs. Rows differ in their nested JSON (message
    parts, sampling params with or without a schema, fillers), and Ray 2.60 fails to concatenate blocks
    whose struct fields differ ("Unable to merge", "'DataType' object is not iterable")."""


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    payload = json.loads(row.pop("payload"))
    return {"row_key": row["row_key"], "opaque": OpaqueRow(), **payload}


COLLECTED = ("row_key", "generated_text", "num_input_tokens", "num_generated_tokens", "time_taken_llm")


def _collect(batch: dict[str, Any]) -> dict[str, Any]:
    """The columns the driver reads, the same for answered and failed rows (failed rows skip Ray's
    postprocess and carry every input column, audio included: none of that goes back to the driver).
    A batch (columns of equal length), not a row: one Ray task per engine batch, not one per row."""
    n = len(batch["row_key"])
    out = {k: batch[k] if k in batch else [None] * n for k in COLLECTED}
    errors = batch["__inference_error__"] if "__inference_error__" in batch else [None] * n
    out["error"] = [e or "" for e in errors]
    return out


def _read_queue(rows: Any, chunk_rows: int) -> Iterator[Any]:
    """Blocks of rows as they arrive in the Ray queue ``rows``, until the ``None`` sentinel."""
    import pyarrow as pa

    while True:
        got = [rows.get()]
        more = min(rows.qsize(), chunk_rows - 1)
        if more > 0:
            got += rows.get_nowait_batch(more)
        end = None in got
        got = [r for r in got if r is not None]
        if got:
            yield pa.Table.from_pylist(got)
        if end:
            return


def _queue_source(rows: Any, chunk_rows: int):
    """A Ray Data datasource with one never-ending read task that streams rows from a Ray queue."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class QueueSource(Datasource):
        def estimate_inmemory_data_size(self) -> None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None):
            meta = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
            return [ReadTask(lambda: _read_queue(rows, chunk_rows), meta)]

    return QueueSource()


# --- driver side --------------------------------------------------------------------------------------
class _Stream:
    """One running Ray Data LLM pipeline: rows go in through a Ray queue, results come back by row key."""

    def __init__(self, processor: Any, batch_size: int, max_in_flight: int):
        import ray
        from ray.util.queue import Queue

        self.batch_size = batch_size
        self.rows = Queue(maxsize=max_in_flight, actor_options={"num_cpus": 0})
        # One read task, one output block per chunk it reads (without override_num_blocks Ray Data splits
        # the one task's output 200 ways, "SplitBlocks(200)", expecting 200 read tasks).
        ds = ray.data.read_datasource(_queue_source(self.rows, batch_size), override_num_blocks=1)
        ctx = ds.context  # this pipeline's own copy: nothing global changes
        ctx.target_max_block_size = 1  # emit every block at once (never wait to fill 128 MiB)
        ctx.execution_options.preserve_order = True
        ctx.enable_fallback_to_arrow_object_ext_type = True  # see OpaqueRow
        ctx.enable_progress_bars = ctx.enable_operator_progress_bars = False  # the caller has its own
        self.output = processor(ds).map_batches(_collect, batch_size=batch_size, batch_format="numpy")
        self.sinks: dict[int, tuple[queue.Queue, GenerationRequest]] = {}
        self.lock = threading.Lock()
        self.fed = 0
        self.failure: str | None = None
        self.collector = threading.Thread(target=self._collect, name="vllm-results", daemon=True)
        self.collector.start()

    def put(self, row: dict[str, Any], sink: queue.Queue | None = None, req: GenerationRequest | None = None,
            ) -> bool:
        """Send one row (blocks while the queue is full). False when the pipeline had already failed: the
        request was not sent, the caller reports it; a failure after this returns is reported by _fail."""
        from ray.util.queue import Full

        with self.lock:
            if self.failure is not None:
                return False
            if sink is not None:
                self.sinks[row["row_key"]] = (sink, req)
            self.fed += 1
        while self.failure is None:
            try:
                self.rows.put(row, timeout=5.0)
                break
            except Full:
                continue
        return True

    def flush(self) -> None:
        """Fillers up to a whole batch, plus one batch more, so every stage releases the rows before them."""
        with self.lock:
            n = (-self.fed) % self.batch_size + self.batch_size * max(1, -(-8 // self.batch_size))
        for _ in range(n):
            self.put(_encode(FILLER, FILLER_MESSAGES, FILLER_PARAMS))

    def _collect(self) -> None:
        try:
            for row in self.output.iter_rows():
                self._deliver(row)
            self._fail("the vLLM pipeline ended")
        except BaseException as e:  # the pipeline died: every waiting request becomes an error result
            self._fail(f"the vLLM pipeline failed: {type(e).__name__}: {one_line(e, 400, tail=True)}")

    def _deliver(self, row: dict[str, Any]) -> None:
        key = int(row["row_key"])
        with self.lock:
            entry = self.sinks.pop(key, None)
        if entry is None:
            return  # a filler
        sink, req = entry
        error = one_line(row.get("error") or "", 500) or None
        text = row.get("generated_text")
        if error is None and text is None:
            error = "no generated_text in the engine's output row"
        if error:
            sink.put(GenerationResult(req.request_id, None, error=error, meta=req.meta))
            return
        n_in, n_out, secs = (row.get(k) for k in ("num_input_tokens", "num_generated_tokens", "time_taken_llm"))
        sink.put(GenerationResult(req.request_id, str(text), None, None if n_in is None else int(n_in),
                                  None if n_out is None else int(n_out), None if secs is None else float(secs),
                                  req.meta))

    def _fail(self, why: str) -> None:
        with self.lock:
            if self.failure is None:
                self.failure = why
            entries, self.sinks = list(self.sinks.values()), {}
        for sink, req in entries:
            sink.put(GenerationResult(req.request_id, None, error=self.failure, meta=req.meta))

    def close(self, timeout: float = 300.0) -> None:
        import ray

        if self.collector.is_alive():
            try:
                self.rows.put(None, timeout=timeout)  # the read task ends: the pipeline drains and stops
                self.collector.join(timeout)
            except Exception as e:  # a dead pipeline: nothing to drain
                log.debug("closing the vLLM pipeline: %s", e)
        self._fail("the engine was closed")
        ray.kill(self.rows.actor)


class VLLMEngine:
    """vLLM on Ray Data. ``config``: :class:`~annotate.engines.configs.VLLMEngineConfig` (model, device, dtype,
    replicas, tensor_parallel_size, batch_size, max_model_len, engine_kwargs passed to vLLM as is,
    ray_address)."""

    name = "vllm"

    def __init__(self, config: VLLMEngineConfig):
        if not config.model:
            raise ClspError("engine 'vllm': set the model (a local checkpoint directory or a hub id)")
        try:
            config.validate()  # a config built in code, not loaded: the checks loading makes
        except ValueError as e:
            raise ClspError(f"engine 'vllm': {e}") from None
        self.preflight(config)
        self.config = config
        self.model = config.model
        self._stream: _Stream | None = None
        self._keys = itertools.count()
        self._lock = threading.Lock()
        self._own_ray = False
        self.device: str | None = None
        self.pipeline_starts = 0  # how many times the Ray Data pipeline (and so vLLM) was started
        self.start_seconds: dict[str, float] = {}  # the last start: "ray" (ray.init), "pipeline" (build it)

    @staticmethod
    def preflight(config: VLLMEngineConfig) -> None:
        """Before Ray or vLLM start: the model is a local folder or can be fetched (:func:`check_model_source`)."""
        if config.model:
            check_model_source(str(config.model))

    # -- set-up ------------------------------------------------------------------------------------------
    def _start_ray(self) -> str:
        import ray

        from annotate.engines import ray_compat

        cfg = self.config
        env_vars = {}
        if cfg.device == "cpu":
            env_vars["VLLM_CPU_KVCACHE_SPACE"] = os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        ray_compat.install()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"runtime_env": ray_compat.runtime_env(env_vars), "log_to_driver": False}
            if cfg.ray_address:
                kwargs["address"] = cfg.ray_address
            else:  # a new local instance ("local": never attach to a cluster someone else started here)
                kwargs["address"] = "local"
                # Every stage actor holds one logical CPU: oversubscribe small machines so none waits.
                kwargs["num_cpus"] = max(os.cpu_count() or 1, 8 + 2 * cfg.replicas)
                kwargs["include_dashboard"] = False
            ray.init(**kwargs)
            self._own_ray = True
        else:
            log.warning("Ray was already started: its runtime_env must include %s", ray_compat.runtime_env())
        if cfg.device != "auto":
            return cfg.device
        return "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"

    def engine_kwargs(self, device: str) -> dict[str, Any]:
        cfg = self.config
        kw: dict[str, Any] = {"max_model_len": cfg.max_model_len,
                              "tensor_parallel_size": cfg.tensor_parallel_size}
        if cfg.dtype != "auto":
            kw["dtype"] = cfg.dtype
        if device == "cpu":
            kw["enforce_eager"] = True  # no torch.compile / graph capture on CPU
            # vLLM 0.32 on CPU crashes the engine ("CPU Generator does not use offset") when a seeded
            # request's prompt is split over steps (chunked prefill): prefill every prompt whole.
            kw["enable_chunked_prefill"] = False
            kw["max_num_batched_tokens"] = max(cfg.max_model_len, 4096)
        # JSON without free whitespace: a weak model constrained by a schema otherwise pads with blanks
        # until max_tokens runs out.
        kw["structured_outputs_config"] = {"backend": "xgrammar", "disable_any_whitespace": True}
        kw.update(cfg.engine_kwargs)
        if isinstance(kw.get("structured_outputs_config"), dict):  # vLLM takes the config object only
            from vllm.config import StructuredOutputsConfig

            try:
                kw["structured_outputs_config"] = StructuredOutputsConfig(**kw["structured_outputs_config"])
            except (TypeError, ValueError) as e:
                msg = f"engine 'vllm': engine_kwargs.structured_outputs_config: {one_line(e, 300)}"
                raise ClspError(msg) from None
        return kw

    def _build_processor(self, device: str):
        from ray.data.llm import build_processor, vLLMEngineProcessorConfig

        cfg = self.config
        extra: dict[str, Any] = {}
        if device == "cpu":  # CPU bundles: without them the engine stage waits for a GPU forever
            extra["placement_group_config"] = {"bundles": [{"CPU": 1}] * cfg.tensor_parallel_size}
        proc_cfg = vLLMEngineProcessorConfig(
            model_source=str(cfg.model),
            engine_kwargs=self.engine_kwargs(device),
            concurrency=(cfg.replicas, cfg.replicas),
            batch_size=cfg.batch_size,
            should_continue_on_error=True,
            log_engine_metrics=False,
            chat_template_stage={"enabled": True},
            tokenize_stage={"enabled": False},  # vLLM tokenizes the prompt: one Ray stage (actor) fewer
            detokenize_stage={"enabled": False},  # vLLM returns the text already: no second decode
            prepare_multimodal_stage={"enabled": True, "chat_template_content_format": "openai"},
            **extra,
        )
        return build_processor(proc_cfg, preprocess=_decode)

    def _ensure_stream(self) -> _Stream:
        with self._lock:
            if self._stream is not None and self._stream.failure is None and self._stream.collector.is_alive():
                return self._stream
            if self._stream is not None:
                self._stream.close(timeout=10.0)
            t0 = time.perf_counter()
            self.device = device = self._start_ray()
            t1 = time.perf_counter()
            in_flight = max(32, 4 * self.config.batch_size * self.config.replicas)
            self._stream = _Stream(self._build_processor(device), self.config.batch_size, in_flight)
            self.start_seconds = {"ray": t1 - t0, "pipeline": time.perf_counter() - t1}
            self.pipeline_starts += 1
            return self._stream

    # -- the Engine interface ----------------------------------------------------------------------------
    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[GenerationResult]:
        """One result per request, in request order, each as soon as the engine has it."""
        it = iter(requests)
        first = next(it, None)
        if first is None:
            return  # nothing to do: do not start an engine
        stream = self._ensure_stream()
        sink: queue.Queue = queue.Queue()
        stop = threading.Event()

        def feed() -> None:
            count = 0
            try:
                for req in itertools.chain([first], it):
                    if stop.is_set():
                        break
                    count += 1
                    try:
                        row = _encode(next(self._keys), request_messages(req), sampling_params(req))
                    except (ValueError, TypeError) as e:
                        sink.put(GenerationResult(req.request_id, None, f"bad request: {e}", meta=req.meta))
                        continue
                    if not stream.put(row, sink, req):
                        sink.put(GenerationResult(req.request_id, None, error=stream.failure, meta=req.meta))
                stream.flush()
                sink.put((_END, count, None))
            except BaseException as e:  # noqa: BLE001  (the caller's request iterator raised)
                sink.put((_END, count, e))

        feeder = threading.Thread(target=feed, name="vllm-feed", daemon=True)
        feeder.start()
        received, total = 0, None
        try:
            while total is None or received < total:
                item = sink.get()
                if isinstance(item, tuple) and item and item[0] is _END:
                    total, problem = item[1], item[2]
                    if problem is not None:
                        raise problem
                    continue
                received += 1
                yield item
        finally:
            stop.set()

    def close(self) -> None:
        """Stop the pipeline (the engine actors exit) and Ray, if this engine started it."""
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
            if self._own_ray:
                import ray

                ray.shutdown()
                self._own_ray = False

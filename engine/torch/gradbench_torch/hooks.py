"""DDP communication hooks, each metered for GradBench's per-step figures.

- `CodecHook`: GradBench's non-summable codecs (codecs.py: int8 blockwise, top-k, and bf16 where
  the process group cannot all-reduce bfloat16) with error feedback `p = g + e; e <- p - D(C(p))`
  per bucket: every rank all-gathers every rank's payload, decodes and averages.
- `metered`: wraps any hook (PyTorch's allreduce, fp16, bf16, PowerSGD, or a CodecHook) and adds
  to a `StepMeter` the bytes this rank sends, the time from launch to completion (commMs) and the
  synchronous launch time (encodeMs), and notes when the last bucket was launched, so the trainer
  can tell how long backward waited on communication afterwards (exposedCommMs).

Relative error (sampled steps): the aggregate a hook returns against the exact mean of what it
was given (the compensated gradient p for CodecHook, as the built-in engine measures it).
"""
import time

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks, powerSGD_hook

from .codecs import make_codec


def ring_allreduce_bytes(nbytes: float, world: int) -> float:
    """Bytes one rank sends in a ring all-reduce (reduce-scatter + all-gather)."""
    return 2 * (world - 1) / world * nbytes if world > 1 else 0.0


class StepMeter:
    """One step's communication figures of this rank, reset by the trainer before backward."""

    def __init__(self, world: int):
        self.world = world
        self.reset(0, False)

    def reset(self, step: int, probe: bool) -> None:
        self.step = step
        self.probe = probe
        self.encode_ms = self.decode_ms = self.comm_ms = 0.0
        self.raw_bytes = self.wire_bytes = 0.0
        self.last_launch = None
        self.err_sq = self.exact_sq = 0.0

    def record_error(self, result: torch.Tensor, exact: torch.Tensor) -> None:
        self.err_sq += float((result - exact).pow(2).sum())
        self.exact_sq += float(exact.pow(2).sum())

    def rel_error(self):
        if not self.probe:
            return None
        return (self.err_sq / self.exact_sq) ** 0.5 if self.exact_sq > 0 else 0.0


def exact_mean(tensor: torch.Tensor, world: int) -> torch.futures.Future:
    """The uncompressed mean over ranks of a copy of `tensor` (the relative-error probe)."""
    work = dist.all_reduce(tensor.clone(), async_op=True)
    return work.get_future().then(lambda f: f.value()[0] / world)


class CodecHook:
    def __init__(self, codec, error_feedback: bool, meter: StepMeter):
        self.codec = codec
        self.error_feedback = error_feedback
        self.meter = meter
        self.errors = {}

    def __call__(self, _state, bucket) -> torch.futures.Future:
        g = bucket.buffer()
        n = g.numel()
        world = self.meter.world
        # DDP rebuilds its buckets after the first step: a residual of another size starts over.
        e = self.errors.get(bucket.index())
        p = g + e if e is not None and e.numel() == n else g.clone()
        payload = self.codec.encode(p)
        if self.error_feedback:
            self.errors[bucket.index()] = p - self.codec.decode(payload, n)
        parts = [torch.empty_like(payload) for _ in range(world)]
        gathered = dist.all_gather(parts, payload, async_op=True).get_future()
        probe = exact_mean(p, world) if self.meter.probe else None

        def average(_fut) -> torch.Tensor:
            t0 = time.perf_counter()
            total = torch.zeros(n, dtype=torch.float32)
            for part in parts:
                total += self.codec.decode(part, n)
            total /= world
            self.meter.decode_ms += (time.perf_counter() - t0) * 1000
            if probe is not None:
                self.meter.record_error(total, probe.wait())
            return total

        return gathered.then(average)

    def wire_bytes(self, bucket) -> float:
        """All-gather: this rank's payload goes to every other rank."""
        return (self.meter.world - 1) * self.codec.payload_bytes(bucket.buffer().numel())


def powersgd_wire_bytes(state, bucket, world: int) -> float:
    """Bytes PowerSGD's hook sends for a bucket (its own rule for which tensors it compresses)."""
    if state.iter < state.start_powerSGD_iter:
        return ring_allreduce_bytes(bucket.buffer().numel() * 4, world)
    r = state.matrix_approximation_rank
    floats = 0
    for t in bucket.gradients():
        rows = t.shape[0] if t.dim() > 1 else 0
        cols = t.numel() // rows if rows else 0
        compress = rows and (rows + cols) * r * state.min_compression_rate < rows * cols
        floats += (rows + cols) * r if compress else t.numel()
    return ring_allreduce_bytes(floats * 4, world)


def metered(hook, state, wire_bytes, meter: StepMeter, probe_input: bool):
    """`hook` with its figures added to `meter`; `probe_input`: measure its error here."""

    def run(hook_state, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
        n = bucket.buffer().numel()
        meter.raw_bytes += ring_allreduce_bytes(n * 4, meter.world)
        meter.wire_bytes += wire_bytes(hook_state, bucket)
        probe = exact_mean(bucket.buffer(), meter.world) if probe_input and meter.probe else None
        t0 = time.perf_counter()
        fut = hook(hook_state, bucket)
        meter.last_launch = time.perf_counter()
        meter.encode_ms += (meter.last_launch - t0) * 1000

        def done(f) -> torch.Tensor:
            meter.comm_ms += (time.perf_counter() - t0) * 1000
            result = f.value()
            if probe is not None:
                meter.record_error(result, probe.wait())
            return result

        return fut.then(done)

    return state, run


def allreduce_has_bf16() -> bool:
    return dist.get_backend() != "gloo"


def register(ddp, method_id: str, params: dict, error_feedback: bool, meter: StepMeter) -> str:
    """Registers the method's hook on `ddp`; returns a one-line description for the log."""
    world = meter.world
    if method_id == "fsdp":
        hook, state, what = default_hooks.allreduce_hook, None, "fp32 all-reduce"
        wire = lambda _s, b: ring_allreduce_bytes(b.buffer().numel() * 4, world)  # noqa: E731
        probe_input = False
    elif method_id == "fp16":
        hook, state, what = default_hooks.fp16_compress_hook, None, "PyTorch fp16_compress_hook"
        wire = lambda _s, b: ring_allreduce_bytes(b.buffer().numel() * 2, world)  # noqa: E731
        probe_input = True
    elif method_id == "bf16" and allreduce_has_bf16():
        hook, state, what = default_hooks.bf16_compress_hook, None, "PyTorch bf16_compress_hook"
        wire = lambda _s, b: ring_allreduce_bytes(b.buffer().numel() * 2, world)  # noqa: E731
        probe_input = True
    elif method_id == "powersgd":
        rank = int(params.get("rank", 4))
        # DDP rebuilds its buckets after step 0: PowerSGD starts once they are final.
        state = powerSGD_hook.PowerSGDState(
            process_group=None, matrix_approximation_rank=rank, start_powerSGD_iter=2, use_error_feedback=error_feedback
        )
        hook, what = powerSGD_hook.powerSGD_hook, f"PyTorch powerSGD_hook (rank {rank})"
        wire = lambda s, b: powersgd_wire_bytes(s, b, world)  # noqa: E731
        probe_input = True
    else:
        codec = make_codec(method_id, params)
        ef = error_feedback and method_id != "bf16"
        codec_hook = CodecHook(codec, ef, meter)
        hook, state = codec_hook, None
        wire = lambda _s, b: codec_hook.wire_bytes(b)  # noqa: E731
        what = f"GradBench {method_id} hook (all-gather{', error feedback' if ef else ''})"
        probe_input = False
    ddp.register_comm_hook(*metered(hook, state, wire, meter, probe_input))
    return what

"""One rank of a GradBench run under torchrun: `python3 -m torch.distributed.run ... -m
gradbench_torch.rank`, with GRADBENCH_RUN_DIR (holding config.json) and GRADBENCH_METHOD (index
into the run's methods) in the environment, and torchrun's RANK, WORLD_SIZE, LOCAL_RANK.

Protocol with the GradBench launcher (as the built-in engine/rank.ts): lines on stdout starting
with "@gb " are JSON events carrying this rank (ready, one step line per step, done); every log
line on stderr starts with "[rank N] ". A rank whose collectives fail because a peer is gone says
so in a "comm-failed" event before exiting, so the launcher can name the rank that died first.

With --write-metrics (runs started without the GradBench launcher, e.g. by Slurm on several
hosts), rank 0 also appends every rank's step lines to the run's metrics.jsonl and the whole
run's methods run in turn; `gradbench runs finish <run>` then writes summary.json.
"""
import argparse
import ctypes
import json
import os
import signal
import sys
import threading
import time
import traceback

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .data import build_corpus, rank_batch
from .hooks import StepMeter, register
from .model import Gpt, GptConfig
from .schedule import clip_factor, learning_rate

EVENT_PREFIX = "@gb "
# Steps between relative-error probes, as the built-in engine (engine/rank.ts).
RELERROR_EVERY = 10
HEARTBEAT_S = 1.0
COMM_FAILED_EXIT = 3
_out_lock = threading.Lock()


def rank_id() -> int:
    return int(os.environ.get("RANK", "0"))


def emit(event: dict) -> None:
    line = EVENT_PREFIX + json.dumps(event, separators=(",", ":")) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def log(msg: str) -> None:
    text = "".join(f"[rank {rank_id()}] {line}\n" for line in str(msg).splitlines() or [""])
    sys.stderr.write(text)
    sys.stderr.flush()


def die_with_parent() -> None:
    """Linux: end this rank when torchrun ends, however it ends (no orphaned ranks)."""
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def heartbeat() -> None:
    def beat() -> None:
        while True:
            emit({"ev": "alive", "rank": rank_id(), "waitingOn": []})
            time.sleep(HEARTBEAT_S)

    threading.Thread(target=beat, daemon=True).start()


def is_comm_error(e: RuntimeError) -> bool:
    text = str(e)
    return any(word in text for word in ("gloo", "NCCL", "Connection", "connection"))


def device_and_backend():
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local), "nccl"
    return torch.device("cpu"), "gloo"


class Trainer:
    """DDP training of one method: the built-in engine's step, LR schedule, clipping and AdamW."""

    def __init__(self, cfg: dict, method: dict, device, data_dir: str):
        p = cfg["profile"]
        self.cfg, self.method, self.device, self.profile = cfg, method, device, p
        self.train = p["train"]
        self.world, self.rank = dist.get_world_size(), dist.get_rank()
        self.corpus = build_corpus(p["data"]["corpus"], p["data"]["seed"], data_dir)
        model = Gpt(GptConfig(**cfg["model"]), self.train["seed"]).to(device)
        self.params = sum(t.numel() for t in model.parameters())
        self.ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        self.meter = StepMeter(self.world)
        ef = method.get("errorFeedback", "ef") != "none"
        self.hook = register(self.ddp, method["id"], method.get("params", {}), ef, self.meter)
        groups = model.param_groups(self.train["weightDecay"])
        adamw = dict(lr=self.train["lr"], betas=(0.9, 0.95), eps=1e-8)
        self.zero = bool((p.get("pytorch") or {}).get("zero"))
        if self.zero:
            from torch.distributed.optim import ZeroRedundancyOptimizer

            self.opt = ZeroRedundancyOptimizer(groups[0]["params"], optimizer_class=torch.optim.AdamW, **adamw,
                                               weight_decay=groups[0]["weight_decay"])
            self.opt.add_param_group(groups[1])
        else:
            self.opt = torch.optim.AdamW(groups, **adamw)
        self.backend = f"torch-{device.type}"

    def describe(self) -> str:
        zero = ", ZeroRedundancyOptimizer" if self.zero else ""
        return f"{self.method['label']}: {self.params} parameters, DDP with {self.hook}{zero}, world {self.world}"

    def step(self, step: int) -> dict:
        t = self.train
        seq = self.cfg["model"]["seqLen"]
        x, y = rank_batch(self.corpus.train, seq, t["batchPerRank"], self.world, self.rank, self.profile["data"]["seed"], step)
        x = torch.from_numpy(x).to(self.device)
        y = torch.from_numpy(y).to(self.device)
        lr = learning_rate(step, t["steps"], t["lr"], t["warmupSteps"])
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.meter.reset(step, step % RELERROR_EVERY == 0 and self.method["id"] != "fsdp")
        self.opt.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        loss = self.ddp(x, y)
        loss.backward()
        t_backward = time.perf_counter()
        grads = [q.grad for q in self.ddp.parameters() if q.grad is not None]
        grad_norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        scale = clip_factor(grad_norm, t["gradClip"])
        if scale != 1:
            for g in grads:
                g.mul_(scale)
        self.opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        t_end = time.perf_counter()
        m = self.meter
        # Backward ends by waiting for every bucket's collective: the time after the last launch
        # is communication the compute did not hide.
        exposed = max(0.0, t_backward - m.last_launch) * 1000 if m.last_launch else 0.0
        step_ms = (t_end - t0) * 1000
        line = {
            "run": self.cfg["run"],
            "method": self.method.get("key") or self.method["id"],
            "step": step,
            "rank": self.rank,
            "loss": float(loss.item()),
            "computeMs": step_ms - exposed,
            "exposedCommMs": exposed,
            "commMs": m.comm_ms,
            "encodeMs": m.encode_ms,
            "decodeMs": m.decode_ms,
            "stepMs": step_ms,
            "rawBytes": m.raw_bytes,
            "wireBytes": m.wire_bytes,
            "tokens": t["batchPerRank"] * seq,
            "backend": self.backend,
            "lr": lr,
            "gradNorm": grad_norm,
        }
        rel = m.rel_error()
        if rel is not None:
            line["relError"] = rel
        return line


class MetricsWriter:
    """--write-metrics: rank 0 appends every rank's step lines to metrics.jsonl."""

    def __init__(self, run_dir: str, enabled: bool):
        self.path = os.path.join(run_dir, "metrics.jsonl")
        self.enabled = enabled

    def write(self, line: dict) -> None:
        if not self.enabled:
            return
        lines = [None] * dist.get_world_size()
        dist.all_gather_object(lines, line)
        if dist.get_rank() == 0:
            with open(self.path, "a", encoding="utf-8") as f:
                f.writelines(json.dumps(x) + "\n" for x in lines)


def run_method(cfg: dict, index: int, device, data_dir: str, writer: MetricsWriter) -> None:
    method = cfg["methods"][index]
    trainer = Trainer(cfg, method, device, data_dir)
    if trainer.rank == 0:
        log(trainer.describe())
    emit({"ev": "ready", "rank": trainer.rank, "pid": os.getpid(), "backend": trainer.backend, "params": trainer.params})
    for step in range(cfg["profile"]["train"]["steps"]):
        line = trainer.step(step)
        emit({"ev": "step", **line})
        writer.write(line)
    emit({"ev": "done", "rank": trainer.rank})


def main() -> int:
    ap = argparse.ArgumentParser(prog="gradbench_torch.rank")
    ap.add_argument("--run-dir", default=os.environ.get("GRADBENCH_RUN_DIR"))
    ap.add_argument("--method", type=int, default=None, help="method index (default: every method in turn)")
    ap.add_argument("--write-metrics", action="store_true", help="rank 0 writes metrics.jsonl itself")
    args = ap.parse_args()
    if not args.run_dir:
        raise SystemExit("set GRADBENCH_RUN_DIR or --run-dir to the run directory holding config.json")
    method = args.method if args.method is not None else os.environ.get("GRADBENCH_METHOD")
    die_with_parent()
    heartbeat()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    with open(os.path.join(args.run_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    data_dir = os.environ.get("GRADBENCH_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "data")
    device, backend = device_and_backend()
    dist.init_process_group(backend)
    if dist.get_world_size() != cfg["profile"]["parallel"]["worldSize"]:
        log(f"note: WORLD_SIZE {dist.get_world_size()} differs from the profile's parallel.worldSize")
    writer = MetricsWriter(args.run_dir, args.write_metrics)
    indices = [int(method)] if method is not None else range(len(cfg["methods"]))
    try:
        for index in indices:
            run_method(cfg, index, device, data_dir, writer)
    except RuntimeError as e:
        if not is_comm_error(e):
            raise
        # The usual cause is a peer that died: the launcher names the rank that died first.
        emit({"ev": "comm-failed", "rank": rank_id(), "message": str(e).splitlines()[0] if str(e) else ""})
        log(f"communication failed: {e}")
        return COMM_FAILED_EXIT
    # Every rank's collectives are over before any rank tears its process group down.
    dist.barrier()
    dist.destroy_process_group()
    return 0


def exit_now(code: int) -> None:
    """Exit without interpreter teardown: torch 1.13's gloo threads can abort a finished rank
    there ("terminate called without an active exception") after its results are out."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        exit_now(main())
    except SystemExit as e:
        if e.code is not None and not isinstance(e.code, int):
            log(e.code)
        exit_now(e.code if isinstance(e.code, int) else int(e.code is not None))
    except BaseException:  # noqa: BLE001 - every failure is reported in the rank's log
        log(traceback.format_exc())
        exit_now(1)

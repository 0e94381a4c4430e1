"""What this Python offers the PyTorch engine, as one JSON object on stdout:
`python3 -m gradbench_torch.probe`. Every option says whether it can run here and, if not, why.
"""
import json
import platform
import sys


def _fsdp(cuda: bool):
    try:
        import torch.distributed.fsdp  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure makes FSDP unavailable
        return False, f"torch.distributed.fsdp fails to import on Python {platform.python_version()}: {type(e).__name__}: {e}"
    if not cuda:
        return False, "FSDP in this torch needs CUDA devices and none are present"
    return True, None


def _option(key: str, name: str, ok: bool, reason):
    return {"id": key, "name": name, "available": ok, **({} if ok else {"reason": reason})}


def probe() -> dict:
    out = {"python": platform.python_version(), "executable": sys.executable}
    try:
        import torch
        import torch.distributed as dist
    except Exception as e:  # noqa: BLE001
        out["error"] = f"import torch failed: {type(e).__name__}: {e}"
        return out
    cuda = torch.cuda.is_available()
    out["torch"] = torch.__version__
    out["cuda"] = {
        "available": cuda,
        "version": torch.version.cuda,
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
    }
    nccl = dist.is_available() and dist.is_nccl_available()
    out["nccl"] = {"available": nccl, "version": ".".join(map(str, torch.cuda.nccl.version())) if nccl and cuda else None}
    gloo = dist.is_available() and dist.is_gloo_available()
    out["gloo"] = gloo
    comm = gloo or (nccl and cuda)
    why_comm = "torch.distributed has neither gloo nor NCCL with CUDA"
    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

    bf16_native = hasattr(default_hooks, "bf16_compress_hook") and nccl and cuda
    fsdp_ok, fsdp_why = _fsdp(cuda)
    try:
        from torch.distributed.optim import ZeroRedundancyOptimizer  # noqa: F401

        zero_ok, zero_why = comm, why_comm
    except ImportError as e:
        zero_ok, zero_why = False, f"ZeroRedundancyOptimizer does not import: {e}"
    out["options"] = [
        _option("ddp", "DDP (NO_SHARD): fp32 all-reduce", comm, why_comm),
        _option("fp16", "fp16 hook (PyTorch fp16_compress_hook)", comm, why_comm),
        _option(
            "bf16",
            "bf16 hook (PyTorch bf16_compress_hook with NCCL, else GradBench's all-gather bf16 hook)", comm, why_comm
        ),
        _option("powersgd", "PowerSGD hook (PyTorch powerSGD_hook)", comm, why_comm),
        _option("int8", "int8 blockwise hook (GradBench)", comm, why_comm),
        _option("topk", "top-k hook with error feedback (GradBench)", comm, why_comm),
        _option("zero", "ZeroRedundancyOptimizer", zero_ok, zero_why),
        _option("fsdp", "FSDP (FULL_SHARD, SHARD_GRAD_OP, HYBRID_SHARD)", fsdp_ok, fsdp_why),
    ]
    out["bf16Hook"] = "pytorch" if bf16_native else "gradbench-allgather"
    return out


if __name__ == "__main__":
    print(json.dumps(probe()))

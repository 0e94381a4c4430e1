"""The built-in engine's learning-rate schedule and clipping (engine/parallel/adamw.ts)."""
import math


def learning_rate(step: int, steps: int, lr: float, warmup_steps: int) -> float:
    """Linear warm-up to lr, then cosine decay to lr / 10 at the last step."""
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    span = max(1, steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def clip_factor(grad_norm: float, clip: float) -> float:
    """The factor that scales the gradient to the global norm limit."""
    return clip / (grad_norm + 1e-6) if grad_norm > clip else 1.0

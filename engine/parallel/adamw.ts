/** AdamW (decoupled weight decay) on a flat shard, plus the learning-rate schedule. */
import type { FlatUnit } from './flat-unit.js';

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** Linear warm-up to `lr`, then cosine decay to lr / 10 at the last step. */
export function learningRate(step: number, steps: number, lr: number, warmupSteps: number): number {
  if (warmupSteps > 0 && step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  const span = Math.max(1, steps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / span);
  return lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** One step's learning rate, AdamW settings, and the factor that clips to the global norm. */
export function stepUpdate(
  step: number,
  train: { steps: number; lr: number; warmupSteps: number; weightDecay: number; gradClip: number },
  gradNorm: number,
): { lr: number; opt: AdamWConfig; clip: number } {
  const clip = gradNorm > train.gradClip ? train.gradClip / (gradNorm + 1e-6) : 1;
  const lr = learningRate(step, train.steps, train.lr, train.warmupSteps);
  return {
    lr,
    opt: { lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: train.weightDecay },
    clip,
  };
}

/** One AdamW update of `unit.shard` with gradient `g` (scaled by `gradScale`, e.g. for clipping). */
export function adamwStep(
  unit: FlatUnit,
  g: Float32Array,
  t: number,
  c: AdamWConfig,
  gradScale: number,
): void {
  const { shard: p, m, v, decayMask } = unit;
  const bc1 = 1 - c.beta1 ** t;
  const bc2 = 1 - c.beta2 ** t;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * gradScale;
    m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
    v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
    const update = m[i] / bc1 / (Math.sqrt(v[i] / bc2) + c.eps);
    p[i] -= c.lr * (update + (decayMask[i] ? c.weightDecay * p[i] : 0));
  }
}

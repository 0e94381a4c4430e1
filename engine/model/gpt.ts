/**
 * A GPT in tfjs, written unit by unit so FSDP can gather, run, and free one wrapped unit at a time:
 *   unit 0: embedding (token + position)            x = wte[idx] + wpe[:T]
 *   unit i: pre-LayerNorm block                      x = x + attn(ln1(x)); x = x + mlp(ln2(x))
 *   unit L+1: head (final norm + LM head)            loss = CE(ln_f(x) @ W_head, targets)
 * With tied embeddings the head multiplies by wte^T and owns only its norm; its wte gradient is
 * accumulated into the embedding unit's gradient.
 *
 * Each unit is a pure function of (input, parameter tensors), so backward can be run per unit by
 * recomputing that unit's forward inside tf.grads (activation checkpointing, as FSDP does with
 * checkpoint wrappers); that is what lets gradient reduce-scatter of unit k overlap with the
 * backward of unit k-1.
 *
 * Matrix products go through `mm`, whose custom gradient transposes explicitly: tfjs-wasm's matMul
 * with transposeA/transposeB is several times slower than tf.transpose + plain matMul.
 */
import * as tf from '@tensorflow/tfjs';
import { gaussian } from '../util/rng.js';

export type ParamClass = 'embedding' | 'attention' | 'mlp' | 'norm' | 'head';
export type UnitKind = 'embedding' | 'block' | 'head';

export interface ParamSpec {
  name: string;
  shape: number[];
  cls: ParamClass;
  init: 'normal' | 'zeros' | 'ones';
  std?: number;
  /** AdamW weight decay applies to matrices only (not biases or norm gains). */
  decay: boolean;
}

export interface UnitSpec {
  name: string;
  kind: UnitKind;
  params: ParamSpec[];
}

export interface GptConfig {
  vocab: number;
  seqLen: number;
  layers: number;
  dModel: number;
  heads: number;
  tied: boolean;
}

/** Size presets: parameter counts quoted for the 65-symbol Shakespeare vocabulary. */
export const MODEL_PRESETS = {
  nano: { layers: 2, dModel: 64, heads: 4, seqLen: 64 }, // ~0.11 M
  micro: { layers: 4, dModel: 128, heads: 4, seqLen: 128 }, // ~0.82 M
  small: { layers: 6, dModel: 384, heads: 6, seqLen: 256 }, // ~10.7 M
  'gpt2-124m': { layers: 12, dModel: 768, heads: 12, seqLen: 1024, vocab: 50257 }, // definable; slow on CPU
} as const;
export type ModelPreset = keyof typeof MODEL_PRESETS;

export function unitSpecs(c: GptConfig): UnitSpec[] {
  const C = c.dModel;
  const std = 0.02;
  // GPT-2 scales residual projections by 1/sqrt(2 * layers) so the residual stream's variance
  // does not grow with depth.
  const projStd = std / Math.sqrt(2 * c.layers);
  const vec = (name: string, cls: ParamClass, n: number, init: 'zeros' | 'ones'): ParamSpec => ({
    name,
    shape: [n],
    cls,
    init,
    decay: false,
  });
  const mat = (name: string, cls: ParamClass, shape: number[], s = std): ParamSpec => ({
    name,
    shape,
    cls,
    init: 'normal',
    std: s,
    decay: true,
  });
  const units: UnitSpec[] = [
    {
      name: 'embedding',
      kind: 'embedding',
      params: [mat('wte', 'embedding', [c.vocab, C]), mat('wpe', 'embedding', [c.seqLen, C], 0.01)],
    },
  ];
  for (let l = 0; l < c.layers; l++) {
    units.push({
      name: `block${l}`,
      kind: 'block',
      params: [
        vec('ln1.g', 'norm', C, 'ones'),
        vec('ln1.b', 'norm', C, 'zeros'),
        mat('attn.wqkv', 'attention', [C, 3 * C]),
        vec('attn.bqkv', 'attention', 3 * C, 'zeros'),
        mat('attn.wproj', 'attention', [C, C], projStd),
        vec('attn.bproj', 'attention', C, 'zeros'),
        vec('ln2.g', 'norm', C, 'ones'),
        vec('ln2.b', 'norm', C, 'zeros'),
        mat('mlp.wfc', 'mlp', [C, 4 * C]),
        vec('mlp.bfc', 'mlp', 4 * C, 'zeros'),
        mat('mlp.wproj', 'mlp', [4 * C, C], projStd),
        vec('mlp.bproj', 'mlp', C, 'zeros'),
      ],
    });
  }
  const head: ParamSpec[] = [vec('lnf.g', 'norm', C, 'ones'), vec('lnf.b', 'norm', C, 'zeros')];
  if (!c.tied) head.push(mat('w_head', 'head', [C, c.vocab]));
  units.push({ name: 'head', kind: 'head', params: head });
  return units;
}

export const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
export const unitNumel = (u: UnitSpec): number => u.params.reduce((a, p) => a + numel(p.shape), 0);

/** Swaps the last two axes. */
function T(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = Array.from({ length: r }, (_, i) => i);
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

/** (Batched) matrix product whose gradient uses explicit transposes. */
const mm = tf.customGrad(((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, [sa, sb]: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, T(sb) as tf.Tensor2D),
      tf.matMul(T(sa) as tf.Tensor2D, dy as tf.Tensor2D),
    ],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (
  a: tf.Tensor,
  b: tf.Tensor,
) => tf.Tensor;

function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), -1, true);
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, 1e-5))), g), b);
}

/** GELU, tanh approximation (as GPT-2). */
function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
}

function linear(x2d: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.add(mm(x2d, w), b);
}

export class Gpt {
  readonly units: UnitSpec[];
  private readonly mask: tf.Tensor; // [T, T]: 0 on and below the diagonal, -1e9 above (causal)

  constructor(readonly config: GptConfig) {
    if (config.dModel % config.heads !== 0)
      throw new Error(`dModel ${config.dModel} is not divisible by heads ${config.heads}`);
    this.units = unitSpecs(config);
    const T_ = config.seqLen;
    const m = new Float32Array(T_ * T_);
    for (let i = 0; i < T_; i++) for (let j = i + 1; j < T_; j++) m[i * T_ + j] = -1e9;
    this.mask = tf.keep(tf.tensor2d(m, [T_, T_]));
  }

  get paramCount(): number {
    return this.units.reduce((a, u) => a + unitNumel(u), 0);
  }

  /** Embedding: idx [B, T] int32 -> x [B, T, C]. One-hot matmul keeps the gradient a matmul. */
  embed([wte, wpe]: tf.Tensor[], idx: tf.Tensor): tf.Tensor {
    const [B, Tn] = idx.shape;
    const C = this.config.dModel;
    const onehot = tf.oneHot(tf.reshape(idx, [-1]) as tf.Tensor1D, this.config.vocab); // [B*T, V]
    const tok = tf.reshape(mm(onehot, wte), [B, Tn, C]); // [B, T, C]
    const pos = tf.slice(wpe, [0, 0], [Tn, C]); // [T, C]
    return tf.add(tok, pos);
  }

  block(p: tf.Tensor[], x: tf.Tensor): tf.Tensor {
    const [ln1g, ln1b, wqkv, bqkv, wproj, bproj, ln2g, ln2b, wfc, bfc, wmp, bmp] = p;
    const [B, Tn, C] = x.shape;
    const H = this.config.heads;
    const hd = C / H;
    const flat = tf.reshape(layerNorm(x, ln1g, ln1b), [B * Tn, C]); // [B*T, C]
    const qkv = linear(flat, wqkv, bqkv); // [B*T, 3C]
    const [q, k, v] = tf
      .split(qkv, 3, 1)
      .map((t) =>
        tf.reshape(tf.transpose(tf.reshape(t, [B, Tn, H, hd]), [0, 2, 1, 3]), [B * H, Tn, hd]),
      ); // each [B*H, T, hd]
    const scores = tf.add(
      tf.mul(mm(q, T(k)), 1 / Math.sqrt(hd)),
      tf.slice(this.mask, [0, 0], [Tn, Tn]),
    ); // [B*H, T, T]
    const att = tf.softmax(scores); // [B*H, T, T]
    const y = tf.reshape(tf.transpose(tf.reshape(mm(att, v), [B, H, Tn, hd]), [0, 2, 1, 3]), [
      B * Tn,
      C,
    ]); // [B*T, C]
    const x1 = tf.add(x, tf.reshape(linear(y, wproj, bproj), [B, Tn, C]));
    const h = tf.reshape(layerNorm(x1, ln2g, ln2b), [B * Tn, C]);
    const m = linear(gelu(linear(h, wfc, bfc)), wmp, bmp); // [B*T, C]
    return tf.add(x1, tf.reshape(m, [B, Tn, C]));
  }

  /** Head: mean cross-entropy over all positions. `wte` is passed when embeddings are tied. */
  head(p: tf.Tensor[], x: tf.Tensor, targets: tf.Tensor, wte?: tf.Tensor): tf.Scalar {
    const [lng, lnb, whead] = p;
    const [B, Tn, C] = x.shape;
    const h = tf.reshape(layerNorm(x, lng, lnb), [B * Tn, C]);
    const w = this.config.tied ? tf.transpose(wte!) : whead; // [C, V]
    const logits = mm(h, w); // [B*T, V]
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(tf.reshape(targets, [-1]) as tf.Tensor1D, this.config.vocab);
    return tf.neg(tf.mean(tf.sum(tf.mul(logp, onehot), -1))) as tf.Scalar;
  }

  dispose(): void {
    this.mask.dispose();
  }
}

/** Deterministic initial values of one unit's flat parameter vector (same for every rank and world). */
export function initUnit(
  unit: UnitSpec,
  unitIndex: number,
  seed: number,
  out = new Float32Array(unitNumel(unit)),
): Float32Array {
  let off = 0;
  for (const [pi, p] of unit.params.entries()) {
    const n = numel(p.shape);
    const view = out.subarray(off, off + n);
    if (p.init === 'ones') view.fill(1);
    else if (p.init === 'zeros') view.fill(0);
    else {
      const rand = gaussian(seed * 1_000_003 + unitIndex * 1009 + pi);
      for (let i = 0; i < n; i++) view[i] = rand() * (p.std ?? 0.02);
    }
    off += n;
  }
  return out;
}

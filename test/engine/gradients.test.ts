import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../engine/model/backend.js';
import { Gpt, initUnit, unitNumel, type GptConfig } from '../../engine/model/gpt.js';
import { FsdpTrainer } from '../../engine/parallel/fsdp-trainer.js';
import type {
  GradientReducer,
  ReduceContext,
  ReduceResult,
} from '../../engine/parallel/grad-reducer.js';
import { makeShardPlan } from '../../engine/parallel/shard-plan.js';
import { soloComm } from '../../engine/parallel/solo-comm.js';

/** Records each unit's local gradient and leaves parameters unchanged (zero update). */
class CapturingReducer implements GradientReducer {
  readonly id = 'capture';
  grads = new Map<number, Float32Array>();
  async reduce(grad: Float32Array, ctx: ReduceContext): Promise<ReduceResult> {
    this.grads.set(ctx.unit.index, grad.slice(0, ctx.unit.numel));
    return {
      shard: new Float32Array(ctx.unit.shardSize),
      rawBytes: 0,
      wireBytes: 0,
      encodeMs: 0,
      decodeMs: 0,
    };
  }
}

beforeAll(async () => {
  await useBackend('wasm');
});

describe.each([false, true])('per-unit backward with recomputation (tied=%s)', (tied) => {
  it('equals tf.grads of the whole model', async () => {
    const config: GptConfig = { vocab: 11, seqLen: 8, layers: 2, dModel: 16, heads: 2, tied };
    const model = new Gpt(config);
    const reducer = new CapturingReducer();
    const trainer = new FsdpTrainer(
      model,
      soloComm,
      makeShardPlan('FULL_SHARD', 0, 1, 1),
      reducer,
      {
        steps: 1,
        lr: 0,
        warmupSteps: 0,
        weightDecay: 0,
        gradClip: 1e9,
        seed: 3,
      },
    );
    const B = 3;
    const x = Int32Array.from({ length: B * 8 }, (_, i) => (i * 7 + 3) % 11);
    const y = Int32Array.from({ length: B * 8 }, (_, i) => (i * 5 + 1) % 11);
    const stats = await trainer.step(0, { x, y, batch: B });

    // Reference: one tf.grads over every parameter of the model at once.
    const flat = model.units.map((u, k) => initUnit(u, k, 3, new Float32Array(unitNumel(u))));
    const tensors = model.units.map((u, k) => {
      let off = 0;
      return u.params.map((p) => {
        const n = p.shape.reduce((a, b) => a * b, 1);
        const t = tf.tensor(flat[k].subarray(off, off + n), p.shape);
        off += n;
        return t;
      });
    });
    const all = tensors.flat();
    const idx = tf.tensor2d(x, [B, 8], 'int32');
    const tgt = tf.tensor2d(y, [B, 8], 'int32');
    const lossOf = (...ps: tf.Tensor[]): tf.Scalar => {
      let at = 0;
      const take = (k: number): tf.Tensor[] => ps.slice(at, (at += tensors[k].length));
      const emb = take(0);
      let h = model.embed(emb, idx);
      for (let k = 1; k < model.units.length - 1; k++) h = model.block(take(k), h);
      return model.head(take(model.units.length - 1), h, tgt, tied ? emb[0] : undefined);
    };
    const { value, grads } = tf.valueAndGrads(lossOf)(all);
    expect(stats.loss).toBeCloseTo(value.dataSync()[0], 5);
    let at = 0;
    model.units.forEach((u, k) => {
      const got = reducer.grads.get(k)!;
      let off = 0;
      for (const p of u.params) {
        const want = grads[at++].dataSync();
        for (let i = 0; i < want.length; i++) {
          expect(Math.abs(got[off + i] - want[i]), `${u.name}.${p.name}[${i}]`).toBeLessThan(
            1e-5 + 1e-3 * Math.abs(want[i]),
          );
        }
        off += want.length;
      }
    });
    tf.dispose([...all, idx, tgt, value, ...grads]);
    model.dispose();
  });
});

/**
 * Character-level corpora and deterministic batches.
 *
 * The global batch of step t is a pure function of (seed, t, global batch size): rank r reads rows
 * [r * B, (r + 1) * B). So one rank with batch 4B sees exactly the data four ranks with batch B see,
 * which is what makes world-size equivalence testable.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../util/runtime-path.js';
import { rng } from '../util/rng.js';

export type CorpusName = 'shakespeare' | 'synthetic';

export interface Corpus {
  name: CorpusName;
  vocab: string[];
  train: Uint16Array;
  val: Uint16Array;
}

/** The tiny Shakespeare text shipped in data/ (public domain). */
export function shakespeareText(): string {
  return readFileSync(path.join(packageRoot, 'data', 'tinyshakespeare.txt'), 'utf8');
}

/**
 * A synthetic corpus with learnable structure: sentences drawn from a small grammar over a fixed
 * word list, so a model can lower its loss quickly without any external data.
 */
export function syntheticText(seed: number, chars = 200_000): string {
  const nouns = [
    'ring',
    'shard',
    'model',
    'token',
    'layer',
    'rank',
    'link',
    'batch',
    'sketch',
    'bucket',
  ];
  const verbs = [
    'sends',
    'gathers',
    'reduces',
    'sparsifies',
    'trains',
    'compresses',
    'decodes',
    'scatters',
  ];
  const adjs = ['fast', 'sparse', 'dense', 'lossless', 'quiet', 'large', 'small', 'sharded'];
  let a = seed >>> 0 || 1;
  const rnd = (n: number): number => {
    a ^= a << 13;
    a ^= a >>> 17;
    a ^= a << 5;
    return (a >>> 0) % n;
  };
  const parts: string[] = [];
  let len = 0;
  while (len < chars) {
    const s = `the ${adjs[rnd(adjs.length)]} ${nouns[rnd(nouns.length)]} ${verbs[rnd(verbs.length)]} the ${nouns[rnd(nouns.length)]}.\n`;
    parts.push(s);
    len += s.length;
  }
  return parts.join('').slice(0, chars);
}

export function buildCorpus(name: CorpusName, seed = 1): Corpus {
  const text = name === 'shakespeare' ? shakespeareText() : syntheticText(seed);
  const vocab = [...new Set(text)].sort();
  const index = new Map(vocab.map((ch, i) => [ch, i]));
  const ids = new Uint16Array(text.length);
  for (let i = 0; i < text.length; i++) ids[i] = index.get(text[i])!;
  const split = Math.floor(ids.length * 0.9);
  return { name, vocab, train: ids.subarray(0, split), val: ids.subarray(split) };
}

/** Row start offsets of the global batch of `step` (same for any world size). */
export function batchOffsets(
  tokens: number,
  seqLen: number,
  globalBatch: number,
  seed: number,
  step: number,
): number[] {
  if (tokens <= seqLen + 1)
    throw new Error(`corpus of ${tokens} tokens is too short for sequences of ${seqLen}`);
  const next = rng((seed * 0x9e3779b1 + step * 0x85ebca6b + 1) >>> 0);
  return Array.from({ length: globalBatch }, () => Math.floor(next() * (tokens - seqLen - 1)));
}

/** This rank's rows of step `step`: inputs and next-token targets, each [B * seqLen] int32. */
export function rankBatch(
  data: Uint16Array,
  opts: {
    seqLen: number;
    batchPerRank: number;
    world: number;
    rank: number;
    seed: number;
    step: number;
  },
): { x: Int32Array; y: Int32Array } {
  const { seqLen, batchPerRank: B } = opts;
  const offs = batchOffsets(data.length, seqLen, B * opts.world, opts.seed, opts.step).slice(
    opts.rank * B,
    (opts.rank + 1) * B,
  );
  const x = new Int32Array(B * seqLen);
  const y = new Int32Array(B * seqLen);
  offs.forEach((o, b) => {
    for (let t = 0; t < seqLen; t++) {
      x[b * seqLen + t] = data[o + t];
      y[b * seqLen + t] = data[o + t + 1];
    }
  });
  return { x, y };
}

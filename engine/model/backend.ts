/**
 * Compute backends, probed in order of speed: tfjs-node-gpu (CUDA), tfjs-node (TensorFlow C
 * library), tfjs-backend-wasm (XNNPACK; ships its .wasm, works offline), then the pure-JS cpu
 * backend. A profile may force one; a forced backend that does not load is an error, never a
 * silent fallback, because timings from another backend would be meaningless.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import type { BackendProbe } from './backend-probe.js';

export type { BackendProbe };

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

const require = createRequire(import.meta.url);

function tryRequire(pkg: string): string | undefined {
  try {
    require(pkg);
    return undefined;
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    return (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && msg.includes(pkg)
      ? 'not installed'
      : msg;
  }
}

let probed: BackendProbe[] | undefined;

/** Which backends load in this process (cached). Loading tfjs-node registers 'tensorflow'. */
export async function probeBackends(): Promise<BackendProbe[]> {
  if (probed) return probed;
  const out: BackendProbe[] = [];
  const gpu = tryRequire('@tensorflow/tfjs-node-gpu');
  out.push({
    name: '@tensorflow/tfjs-node-gpu',
    backend: 'tensorflow',
    available: !gpu,
    detail: gpu ?? 'CUDA via libtensorflow',
  });
  const node = gpu
    ? tryRequire('@tensorflow/tfjs-node')
    : 'skipped: tfjs-node-gpu already provides tensorflow';
  out.push({
    name: '@tensorflow/tfjs-node',
    backend: 'tensorflow',
    available: !node,
    detail: node ?? 'libtensorflow on CPU',
  });
  let wasm: string | undefined;
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    wasm = (await tf.setBackend('wasm')) ? undefined : 'failed to initialise';
  } catch (e) {
    wasm = (e as Error).message;
  }
  out.push({
    name: '@tensorflow/tfjs-backend-wasm',
    backend: 'wasm',
    available: !wasm,
    detail: wasm ?? 'XNNPACK, one thread per process',
  });
  out.push({ name: 'cpu', backend: 'cpu', available: true, detail: 'pure JavaScript (slowest)' });
  probed = out;
  return out;
}

/** Selects and initialises a backend; returns the tfjs backend name in use. */
export async function useBackend(choice: BackendChoice): Promise<string> {
  const probes = await probeBackends();
  const candidates =
    choice === 'auto'
      ? probes.filter((p) => p.available)
      : probes.filter((p) => p.backend === choice);
  for (const p of candidates) {
    if (!p.available) continue;
    if (await tf.setBackend(p.backend)) {
      await tf.ready();
      return tf.getBackend();
    }
  }
  const why = probes
    .filter((p) => choice === 'auto' || p.backend === choice)
    .map((p) => `${p.name}: ${p.detail}`)
    .join('; ');
  throw new Error(
    `backend "${choice}" is not available (${why}); choose another backend or "auto"`,
  );
}

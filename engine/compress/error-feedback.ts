/**
 * Error feedback, in one place for every lossy method:
 *   classic EF (Seide et al.; Karimireddy et al.):  p = g + e;        send C(p);  e <- p - D(C(p))
 *   EControl (Gao, Islamov, Stich 2023):            p = g + eta * e;  send C(p);  e <- e + g - D(C(p))
 * (EControl with eta = 1 is classic EF.) State is kept per tensor key on each rank.
 */
export type ErrorFeedbackMode =
  { mode: 'none' } | { mode: 'ef' } | { mode: 'econtrol'; eta: number };

export class ErrorFeedback {
  private readonly residual = new Map<string, Float32Array>();
  /** The compensated vector of each tensor, reused every step (it is done with by then). */
  private readonly compensated = new Map<string, Float32Array>();

  constructor(readonly mode: ErrorFeedbackMode) {}

  get enabled(): boolean {
    return this.mode.mode !== 'none';
  }

  private errorOf(key: string, n: number): Float32Array {
    return sized(this.residual, key, n);
  }

  /**
   * The vector to compress this step: a buffer of this key's own, valid until the next
   * `compensate` of the same key (a step's reduction is finished by then). Reusing it keeps a
   * unit-sized allocation per tensor and step away from the garbage collector.
   */
  compensate(key: string, g: Float32Array): Float32Array {
    if (this.mode.mode === 'none') return g;
    const e = this.errorOf(key, g.length);
    const eta = this.mode.mode === 'econtrol' ? this.mode.eta : 1;
    const p = sized(this.compensated, key, g.length);
    for (let i = 0; i < g.length; i++) p[i] = g[i] + eta * e[i];
    return p;
  }

  /** Records what was not transmitted: `sent` is D(C(p)) as this rank contributed it. */
  update(key: string, g: Float32Array, p: Float32Array, sent: Float32Array): void {
    if (this.mode.mode === 'none') return;
    const e = this.errorOf(key, g.length);
    if (this.mode.mode === 'ef') for (let i = 0; i < e.length; i++) e[i] = p[i] - sent[i];
    else for (let i = 0; i < e.length; i++) e[i] += g[i] - sent[i];
  }

  /** The current residual of a tensor (tests, diagnostics). */
  residualOf(key: string): Float32Array | undefined {
    return this.residual.get(key);
  }
}

/** The zero-initialised buffer of `key` in `map`, (re)allocated when its length changes. */
function sized(map: Map<string, Float32Array>, key: string, n: number): Float32Array {
  let a = map.get(key);
  if (!a || a.length !== n) {
    a = new Float32Array(n);
    map.set(key, a);
  }
  return a;
}

/**
 * Fault injection for tests, from GRADBENCH_FAULT: `crash:<rank>:<step>` kills that rank at the
 * start of that step (SIGKILL, as an out-of-memory kill would), `hang:<rank>:<step>` stops it
 * forever (a stuck process), `nan:<rank>:<step>[:<unit>]` makes the method emit a NaN in that
 * rank's reduced gradient shard of one FSDP unit (default 1, the first block) at that step
 * (engine/parallel/nan-fault.ts), for the numerical-health checks.
 */
export interface Fault {
  kind: 'crash' | 'hang' | 'nan';
  rank: number;
  step: number;
  /** FSDP unit (nan only). */
  unit?: number;
}

export function parseFault(spec: string | undefined): Fault | undefined {
  if (!spec) return undefined;
  const m = /^(crash|hang|nan):(\d+):(\d+)(?::(\d+))?$/.exec(spec.trim());
  if (!m || (m[4] !== undefined && m[1] !== 'nan'))
    throw new Error(
      `GRADBENCH_FAULT: "${spec}" is not kind:rank:step (e.g. crash:1:3) or nan:rank:step[:unit]`,
    );
  const fault: Fault = { kind: m[1] as Fault['kind'], rank: Number(m[2]), step: Number(m[3]) };
  if (fault.kind === 'nan') fault.unit = m[4] === undefined ? 1 : Number(m[4]);
  return fault;
}

export function maybeInjectFault(fault: Fault | undefined, rank: number, step: number): void {
  if (!fault || fault.kind === 'nan' || fault.rank !== rank || fault.step !== step) return;
  process.stderr.write(`rank ${rank}: injected fault "${fault.kind}" at step ${step}\n`);
  if (fault.kind === 'crash') process.kill(process.pid, 'SIGKILL');
  else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

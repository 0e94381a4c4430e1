/**
 * Fault injection for tests, from GRADBENCH_FAULT: `crash:<rank>:<step>` kills that rank at the
 * start of that step (SIGKILL, as an out-of-memory kill would), `hang:<rank>:<step>` stops it
 * forever (a stuck process), `nan:<rank>:<step>` is reserved for numerical-health checks.
 */
export interface Fault {
  kind: 'crash' | 'hang';
  rank: number;
  step: number;
}

export function parseFault(spec: string | undefined): Fault | undefined {
  if (!spec) return undefined;
  const m = /^(crash|hang):(\d+):(\d+)$/.exec(spec.trim());
  if (!m) throw new Error(`GRADBENCH_FAULT: "${spec}" is not kind:rank:step (e.g. crash:1:3)`);
  return { kind: m[1] as Fault['kind'], rank: Number(m[2]), step: Number(m[3]) };
}

export function maybeInjectFault(fault: Fault | undefined, rank: number, step: number): void {
  if (!fault || fault.rank !== rank || fault.step !== step) return;
  process.stderr.write(`rank ${rank}: injected fault "${fault.kind}" at step ${step}\n`);
  if (fault.kind === 'crash') process.kill(process.pid, 'SIGKILL');
  else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

/** `gradbench comm-check`: every collective across local ranks, checked against a reference. */
import { formatDuration } from '../util/format.js';
import { LINK_PRESET_NAMES } from '../comm/emulation.js';
import { killRanks, spawnRanks, type RankProcess } from '../launch/local-ranks.js';
import { compiledFile } from '../util/runtime-path.js';
import { UsageError } from './help.js';
import { parse, print } from './args.js';

const COMM_CHECK_USAGE =
  'gradbench comm-check [--world 4] [--nodes 1] [--network <preset|off>] [--lengths 0,1,7,1000003] [--timeout <s>]';

interface CommCheckPlan {
  world: number;
  nodes: number;
  network: string;
  lengths: string;
  timeoutS: number;
}

function commCheckPlan(args: string[]): CommCheckPlan {
  const { values } = parse(
    args,
    {
      world: { type: 'string', default: '4' },
      nodes: { type: 'string', default: '1' },
      network: { type: 'string', default: 'off' },
      lengths: { type: 'string', default: '0,1,7,1000003' },
      timeout: { type: 'string', default: '600' },
    },
    { min: 0, max: 0, usage: COMM_CHECK_USAGE },
  );
  const int = (name: string, v: string, min: number): number => {
    if (!/^\d+$/.test(v) || Number(v) < min) {
      throw new UsageError(`--${name} must be a whole number >= ${min}, got "${v}"`);
    }
    return Number(v);
  };
  const plan = {
    world: int('world', values.world, 1),
    nodes: int('nodes', values.nodes, 1),
    network: values.network,
    lengths: values.lengths,
    timeoutS: int('timeout', values.timeout, 1),
  };
  if (plan.world % plan.nodes !== 0) {
    throw new UsageError(`--nodes (${plan.nodes}) must divide --world (${plan.world})`);
  }
  if (!(LINK_PRESET_NAMES as string[]).includes(plan.network)) {
    throw new UsageError(`--network must be one of ${LINK_PRESET_NAMES.join(', ')}`);
  }
  if (!/^\d+(,\d+)*$/.test(plan.lengths)) {
    throw new UsageError(`--lengths must be element counts like 0,7,1000, got "${plan.lengths}"`);
  }
  return plan;
}

interface RankOutcome {
  proc: RankProcess;
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
  checks?: number;
}

function doneChecks(proc: RankProcess): number | undefined {
  for (const line of proc.stdout) {
    try {
      const msg = JSON.parse(line) as { done?: boolean; checks?: number };
      if (msg.done) return msg.checks;
    } catch {
      // Not a JSON line of the check program.
    }
  }
  return undefined;
}

/** Runs comm-check on local ranks until all exit, the deadline passes, or Ctrl-C. */
async function runCommCheck(
  plan: CommCheckPlan,
): Promise<{ outcomes: RankOutcome[]; timedOut: boolean }> {
  const net = plan.network;
  const procs = await spawnRanks({
    script: compiledFile('engine/comm/comm-check.ts'),
    args: ['--lengths', plan.lengths],
    world: plan.world,
    localWorld: plan.world / plan.nodes,
    network: { intra: net, inter: net },
  });
  let timedOut = false;
  const stop = (): void => killRanks(procs);
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, plan.timeoutS * 1000);
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    const outcomes = await Promise.all(
      procs.map(async (proc) => {
        // 'close' comes after the last output line; 'exit' may come before it.
        const closed = new Promise((resolve) => proc.child.once('close', resolve));
        const { code, signal } = await proc.exited;
        const at = Date.now();
        await closed;
        return { proc, code, signal, at, checks: doneChecks(proc) };
      }),
    );
    return { outcomes, timedOut };
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}

export async function commCheckCommand(args: string[]): Promise<number> {
  const plan = commCheckPlan(args);
  const started = Date.now();
  const { outcomes, timedOut } = await runCommCheck(plan);
  const passed = (o: RankOutcome): boolean => o.code === 0 && o.checks !== undefined;
  for (const o of outcomes) {
    const killed = timedOut
      ? `stopped after the ${plan.timeoutS} s timeout`
      : `killed by ${o.signal}`;
    const why = o.signal ? killed : `exit code ${o.code}`;
    print(`rank ${o.proc.rank}: ${passed(o) ? `pass (${o.checks} checks)` : `FAIL (${why})`}`);
  }
  const failed = outcomes.filter((o) => !passed(o)).sort((a, b) => a.at - b.at);
  const total = outcomes.reduce((n, o) => n + (o.checks ?? 0), 0);
  const took = formatDuration(Date.now() - started);
  if (!failed.length) {
    print(`comm-check passed: ${plan.world} ranks, ${total} checks in total, ${took}`);
    return 0;
  }
  for (const o of failed) {
    const tail = o.proc.stderr.filter((l) => l.trim()).slice(-20);
    const text = tail.length ? tail.join('\n') : '(no output)';
    process.stderr.write(
      `--- rank ${o.proc.rank} stderr (last ${tail.length} lines) ---\n${text}\n`,
    );
  }
  const cause = timedOut ? ` (timed out after ${plan.timeoutS} s)` : '';
  process.stderr.write(
    `gradbench: comm-check failed on ${failed.length} of ${plan.world} ranks${cause}; first: rank ${failed[0].proc.rank}\n`,
  );
  return 1;
}

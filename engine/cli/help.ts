/** What `gradbench <command> --help` prints: one text per command, kept beside each other. */

import { RANKS_PER_CORE_ENV, SKIP_MEMORY_CHECK_ENV } from '../app/preflight.js';
import { FINAL_LOSS_NOTE } from '../run/summary.js';

/** A mistake in how a command was called (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const RUN_USAGE =
  'gradbench run <profile.json | profile name> [--steps N] [--world N] [--nodes N] [--backend auto|tensorflow|wasm|cpu] [--repeat N] [--json] [--predict] [--home DIR]';

const RUN_HELP = `usage: ${RUN_USAGE}

Runs a benchmark: the FSDP baseline, then each method of the profile, one process per rank,
with a live progress line per method. Ctrl-C cancels (twice forces); the methods that completed
stay in the run's summary, the others are recorded as cancelled or not started.

  --steps N      training steps per method (profile train.steps)
  --world N      ranks (parallel.worldSize)
  --nodes N      nodes the ranks are grouped into (parallel.nodes)
  --backend B    compute backend: auto, tensorflow, wasm or cpu (an unavailable one is refused)
  --repeat N     run the baseline and the methods N times in turn on fresh ranks (profile
                 repeat); speedups are then medians with their 95 % interval
  --json         print the run summary as JSON instead of a table
  --predict      first predict every method's speedup on this box, then compare with the run
  --home DIR     results store (default $GRADBENCH_HOME, else ~/.gradbench)

Before any rank starts, the run is refused when it puts more than 4 ranks on a core (raise the
limit with ${RANKS_PER_CORE_ENV}=N) or when its estimated memory does not fit in free memory
(skip the check with ${SKIP_MEMORY_CHECK_ENV}=1). A method that completes no step for
health.stallTimeoutS seconds (default 300) fails, naming the rank or link it waits on.
Steps are numbered from 1; ${FINAL_LOSS_NOTE}.
Exit code: 0 completed, 1 failed or refused, 2 usage error, 130 cancelled.`;

/** Per command: the text `gradbench <command> --help` prints. */
export const COMMAND_HELP: Record<string, string> = {
  run: RUN_HELP,
  start: `usage: gradbench start [--headless] [run options]

Opens the GradBench window. Without Electron's binary the app is served to a browser (the URL
stays valid until Ctrl-C); without a display (or with --headless) the built-in "default"
benchmark runs in the terminal instead, taking the options of gradbench run.`,
  serve: `usage: gradbench serve [--port N]

Serves the app on 127.0.0.1 (port 0, the default, picks a free one) and prints its URL with a
per-session token. Ctrl-C cancels running benchmarks and stops.`,
  profiles: `usage: gradbench profiles list [--json] | show <name> | validate <file.json> | save <file.json> | delete <name> | export <name> [file]

Built-in and saved benchmark profiles. A profile file is a regular UTF-8 file of at most
256 KiB (a byte-order mark is accepted); every invalid field is reported once, by name.`,
  hardware: `usage: gradbench hardware [--json]

CPU, memory, GPUs, OS, and which compute backends load here.`,
  runs: `usage: gradbench runs list [--json] | show <run> [--json] | delete <run> [--force]

The results store. <run> is a run id, a unique prefix of one, or "latest". Run status:
running, completed, failed, cancelled, or interrupted (its launcher ended without finishing it);
each method: completed, failed, cancelled, not started (or running). ${FINAL_LOSS_NOTE}.
runs show exits with 1 when a file of the run is damaged, with or without --json.`,
  export: `usage: gradbench export <run> --csv [file] [--summary]

Per-step CSV (one row per method and step, steps numbered from 1), or with --summary one row
per method; methods without a figure leave its cell empty. ${FINAL_LOSS_NOTE}.`,
  project: `usage: gradbench project <run | run dir> [--cluster <preset | file.json>] [--json]

Predicted step time, exposed communication and speedup of every method of a measured run on
another cluster; without --cluster, on the run's own links next to what was measured.`,
  'comm-check': `usage: gradbench comm-check [--world 4] [--nodes 1] [--network <preset|off>] [--lengths 0,1,7,1000003] [--timeout <s>]

Verifies every collective across local ranks.`,
};

/**
 * `gradbench`: the headless command line over the engine services (profiles, runs, export,
 * hardware, comm-check). Every command returns an exit code: 0 success, 1 failure, 2 usage error.
 * Errors are one `gradbench: <message>` on stderr; GRADBENCH_DEBUG=1 adds the stack.
 */
import { dataHome } from './util/home.js';
import { COMMAND_HELP, UsageError } from './cli/help.js';
import { print, version } from './cli/args.js';
export { UsageError };

const USAGE = `gradbench: benchmark compressed gradient communication in sharded transformer training

Usage:
  gradbench run <profile.json | name> [options]   run a benchmark (see gradbench run --help)
  gradbench start                                 open the GradBench window
  gradbench serve [--port N]                      the app in a browser on 127.0.0.1 (prints its URL)
  gradbench profiles list [--json]                built-in and saved profiles
  gradbench profiles show <name>                  print a profile as JSON
  gradbench profiles validate <file.json>         check a profile file, listing every invalid field
  gradbench profiles save <file.json>             validate and save a profile
  gradbench profiles delete <name>                delete a saved profile
  gradbench profiles export <name> [file]         write a profile as JSON (stdout without file)
  gradbench hardware [--json]                     CPU, memory, GPUs, OS, compute backends and
                                                  the PyTorch engine's options
  gradbench runs list [--json]                    runs, newest first
  gradbench runs show <run> [--json]              one run's summary
  gradbench runs delete <run> [--force]           delete a run and its files
  gradbench runs prepare <profile> [--nproc-per-node N]
                                                  a PyTorch run directory for torchrun on several
                                                  hosts; prints the command line to run on each
  gradbench runs finish <run>                     summary.json of such a run from its metrics
  gradbench export <run> --csv [file] [--summary] per-step CSV (or per-method summary CSV)
  gradbench project <run> [--cluster <preset | file.json>] [--json]
                                                  predicted step time and speedup per method on
                                                  another cluster (default: the run's own links)
  gradbench comm-check [--world 4] [--nodes 1] [--network <preset|off>] [--lengths 0,1,7,1000003]
                                                  verify every collective across local ranks
  gradbench version                               print the version
  gradbench help                                  this text
  gradbench <command> --help                      one command's options

<run> is a run id, a unique prefix of one, or "latest".
Data directory: $GRADBENCH_HOME, else ~/.gradbench (now: ${dataHome()}).
`;

// ---------------------------------------------------------------------------------------------

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  profiles: async (args) => (await import('./cli/profiles.js')).profilesCommand(args),
  hardware: async (args) => (await import('./cli/hardware.js')).hardwareCommand(args),
  runs: async (args) => (await import('./cli/runs.js')).runsCommand(args),
  export: async (args) => (await import('./cli/export.js')).exportCommand(args),
  'comm-check': async (args) => (await import('./cli/comm-check.js')).commCheckCommand(args),
  project: async (args) => (await import('./cli/project.js')).projectCommand(args),
  run: async (args) => (await import('./cli/run.js')).runCommand(args),
  start: async (args) => (await import('./cli/run.js')).startCommand(args),
  serve: async (args) => (await import('./cli/serve.js')).serveCommand(args),
};

function report(e: unknown): number {
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`gradbench: ${err.message}\n`);
  if (process.env.GRADBENCH_DEBUG === '1' && err.stack) process.stderr.write(`${err.stack}\n`);
  if (err instanceof UsageError) {
    process.stderr.write('run "gradbench help" for usage\n');
    return 2;
  }
  return 1;
}

/** Runs one command line (without `node` and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      print(USAGE);
      return 0;
    }
    if (command === 'version' || command === '--version' || command === '-v') {
      print(`gradbench ${version()} (node ${process.versions.node})`);
      return 0;
    }
    const handler = COMMANDS[command];
    if (!handler || !Object.hasOwn(COMMANDS, command))
      throw new UsageError(`unknown command "${command}"`);
    if (rest.includes('--help') || rest.includes('-h')) {
      print(COMMAND_HELP[command] ?? USAGE);
      return 0;
    }
    return await handler(rest);
  } catch (e) {
    return report(e);
  }
}

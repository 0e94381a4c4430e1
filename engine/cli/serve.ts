/**
 * `gradbench serve [--port N]`: the app in a browser. Prints the URL (with its session token) and
 * serves until interrupted; Ctrl-C cancels running benchmarks cleanly before exiting, so no rank
 * process outlives the server and every run directory ends with its summary.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../util/runtime-path.js';
import { ApiService } from '../app/api-service.js';
import { startBridge, type Bridge } from '../app/bridge.js';
import { dataHome } from '../util/home.js';

export const RENDERER_DIR = path.join(packageRoot, 'out', 'renderer');

export async function serve(
  port: number,
  home = dataHome(),
): Promise<{ bridge: Bridge; service: ApiService }> {
  if (!existsSync(path.join(RENDERER_DIR, 'index.html')))
    throw new Error(`the app is not built (${RENDERER_DIR} is missing); run "npm run build" first`);
  const service = new ApiService({ home });
  const bridge = await startBridge({ service, staticDir: RENDERER_DIR, port });
  return { bridge, service };
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { port: { type: 'string', default: '0' } },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(
      `--port must be an integer from 0 to 65535 (0 picks a free port), got "${values.port}"`,
    );
  const { bridge, service } = await serve(port);
  process.stdout.write(`GradBench is serving on ${bridge.url}\nopen ${bridge.openUrl}\n`);
  process.stdout.write(`data directory: ${dataHome()}\n`);
  return waitForInterrupt(bridge, service);
}

/** Serves until Ctrl-C or SIGTERM, then cancels running benchmarks and closes the server. */
export function waitForInterrupt(bridge: Bridge, service: ApiService): Promise<number> {
  process.stdout.write('press Ctrl-C to stop\n');
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      if (service.busy) process.stderr.write('cancelling the running benchmark...\n');
      void service
        .cancelAll()
        .then(() => bridge.close())
        .then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

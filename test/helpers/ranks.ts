import { compiledFile } from '../../engine/util/runtime-path.js';
import {
  pidAlive,
  spawnRanks,
  type RankProcess,
  type SpawnRanksOptions,
} from '../../engine/launch/local-ranks.js';

export const commCheckScript = (): string => compiledFile('engine/comm/comm-check.ts');

export async function runRanks(
  opts: Omit<SpawnRanksOptions, 'script'> & { script?: string },
): Promise<RankProcess[]> {
  return spawnRanks({ script: opts.script ?? commCheckScript(), ...opts });
}

/** Resolves once `pred` holds, polling; rejects after `ms`. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function alivePids(procs: RankProcess[]): number[] {
  return procs.map((p) => p.child.pid!).filter((pid) => pidAlive(pid));
}

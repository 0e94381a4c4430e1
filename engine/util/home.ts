/**
 * The data directory: saved profiles and one folder per run. `GRADBENCH_HOME` overrides the
 * default `~/.gradbench` (the Electron app passes its own userData path instead).
 */
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export function dataHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.GRADBENCH_HOME?.trim();
  return home ? path.resolve(home) : path.join(os.homedir(), '.gradbench');
}

export function profilesDir(home: string): string {
  return path.join(home, 'profiles');
}

export function runsDir(home: string): string {
  return path.join(home, 'runs');
}

/** Creates the data directory and its sub-folders if needed; returns `home`. */
export async function ensureHome(home: string): Promise<string> {
  await mkdir(profilesDir(home), { recursive: true });
  await mkdir(runsDir(home), { recursive: true });
  return home;
}

/**
 * Where the compiled engine lives. Rank processes and worker threads always run compiled
 * JavaScript from dist/, also when the caller itself runs from TypeScript sources (tests).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { unpackedPath } from './asar-path.js';

const here = fileURLToPath(import.meta.url);
const fromSources = here.endsWith('.ts');

/**
 * The package root (the folder with package.json). In a packaged app this is the unpacked copy
 * beside app.asar, so rank processes can run from it and use it as their working directory.
 */
export const packageRoot = unpackedPath(
  fromSources
    ? path.resolve(path.dirname(here), '../..')
    : path.resolve(path.dirname(here), '../../..'),
);

/** Absolute path of a compiled module, given its source path relative to the package root. */
export function compiledFile(sourceRelative: string): string {
  const file = path.join(packageRoot, 'dist', sourceRelative.replace(/\.ts$/, '.js'));
  if (!existsSync(file)) {
    throw new Error(
      `${path.relative(process.cwd(), file)} is missing: run "npm run build:engine" first`,
    );
  }
  return file;
}

let sha: string | null | undefined;

/** The commit the package was built from, when it runs from a git checkout (read once). */
export function gitSha(): string | undefined {
  if (sha === undefined) {
    try {
      sha = execFileSync('git', ['rev-parse', 'HEAD'], {
        cwd: packageRoot,
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .toString()
        .trim();
    } catch {
      sha = null;
    }
  }
  return sha ?? undefined;
}

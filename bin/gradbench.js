#!/usr/bin/env node
// Entry point of the `gradbench` command: runs the compiled CLI from dist/.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/engine/cli.js', import.meta.url);

if (!existsSync(cli)) {
  process.stderr.write('gradbench: the engine is not compiled; run npm run build:engine first\n');
  process.exit(1);
}

const { main } = await import(cli.href);
const code = await main(process.argv.slice(2));
// Exit once stdout and stderr have flushed, even if a library left a handle open.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));

/**
 * The electron-builder configuration (build/electron-builder.json), checked without building:
 * electron-builder's own schema validation and file matcher decide what an installer would
 * contain, and the icons are decoded as PNG.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { inflateSync, crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FileMatcher, getNodeModuleFileMatcher } from 'app-builder-lib/out/fileMatcher.js';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config.js';
import { DebugLogger } from 'builder-util';
import { unpackedPath } from '../../engine/util/asar-path.js';
import { packageRoot } from '../../engine/util/runtime-path.js';

const root = path.resolve(import.meta.dirname, '../..');
const CONFIG_FILE = 'build/electron-builder.json';

interface TargetList {
  target?: (string | { target: string })[] | string;
}
interface BuilderConfig {
  appId?: string;
  productName?: string;
  directories?: { output?: string; buildResources?: string };
  files?: string[];
  asar?: boolean;
  asarUnpack?: string[];
  electronFuses?: { runAsNode?: boolean };
  icon?: string;
  linux?: TargetList & { icon?: string };
  win?: TargetList & { icon?: string };
  mac?: TargetList & { icon?: string };
  [key: string]: unknown;
}

const config = JSON.parse(readFileSync(path.join(root, CONFIG_FILE), 'utf8')) as BuilderConfig;
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};

const targets = (os: TargetList | undefined): string[] =>
  [os?.target ?? []].flat().map((t) => (typeof t === 'string' ? t : t.target));

const asFile = { isDirectory: () => false } as never;
const asDir = { isDirectory: () => true } as never;
const same = (s: string): string => s;

/**
 * electron-builder's own filter for `patterns`; with `walk`, as the app copier applies it (it
 * walks folders first, so every parent folder must pass too).
 */
function matcher(patterns: string[] | FileMatcher, walk = false): (relative: string) => boolean {
  const m =
    patterns instanceof FileMatcher ? patterns : new FileMatcher(root, root, same, patterns);
  const filter = m.createFilter();
  return (relative) => {
    const parts = relative.split('/');
    if (walk)
      for (let i = 1; i < parts.length; i++)
        if (!filter(path.join(root, ...parts.slice(0, i)), asDir)) return false;
    return filter(path.join(root, relative), asFile);
  };
}

/** Every module the engine spawns as a process or a worker, from `compiledFile('...')` calls. */
function spawnedModules(): string[] {
  const found = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts'))
        for (const m of readFileSync(file, 'utf8').matchAll(/compiledFile\('([^']+)'\)/g))
          found.add(`dist/${m[1].replace(/\.ts$/, '.js')}`);
    }
  };
  walk(path.join(root, 'engine'));
  return [...found].sort();
}

/** Files the packaged app needs at run time: the window, the engine it loads, rank inputs. */
const RUNTIME_FILES = [
  'package.json',
  'out/main/index.js',
  'out/preload/index.cjs',
  'out/renderer/index.html',
  'dist/engine/app/host.js',
  'data/tinyshakespeare.txt',
];

interface Png {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  chunks: string[];
}

/** Decodes a PNG's chunk structure: signature, IHDR first, CRCs, and the pixel data's size. */
function readPng(file: string): Png {
  const b = readFileSync(file);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!b.subarray(0, 8).equals(signature)) throw new Error(`${file} is not a PNG`);
  const chunks: string[] = [];
  const idat: Buffer[] = [];
  let ihdr: Buffer | undefined;
  for (let off = 8; off < b.length;) {
    const length = b.readUInt32BE(off);
    const type = b.toString('latin1', off + 4, off + 8);
    const data = b.subarray(off + 8, off + 8 + length);
    const crc = b.readUInt32BE(off + 8 + length);
    if (crc32(b.subarray(off + 4, off + 8 + length)) !== crc)
      throw new Error(`${file}: bad CRC in ${type}`);
    chunks.push(type);
    if (type === 'IHDR') ihdr = data;
    if (type === 'IDAT') idat.push(data);
    off += 12 + length;
  }
  if (chunks[0] !== 'IHDR' || !ihdr) throw new Error(`${file}: IHDR is not the first chunk`);
  const png = {
    width: ihdr.readUInt32BE(0),
    height: ihdr.readUInt32BE(4),
    bitDepth: ihdr[8],
    colorType: ihdr[9],
    chunks,
  };
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[png.colorType] ?? 0;
  const rowBytes = 1 + (png.width * channels * png.bitDepth) / 8;
  if (inflateSync(Buffer.concat(idat)).length !== rowBytes * png.height)
    throw new Error(`${file}: pixel data does not match ${png.width}x${png.height}`);
  return png;
}

describe('installer configuration', () => {
  it('names the app and builds AppImage and deb, NSIS and dmg into the ignored release folder', () => {
    expect(config.appId).toMatch(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*){2,}$/);
    expect(config.productName).toBe('GradBench');
    expect(targets(config.linux).sort()).toEqual(['AppImage', 'deb']);
    expect(targets(config.win)).toEqual(['nsis']);
    expect(targets(config.mac)).toEqual(['dmg']);
    // Not electron-builder's default (dist/), which is the compiled engine.
    const output = config.directories?.output ?? '';
    expect(output.split('/')[0]).toBe('release');
    expect(readFileSync(path.join(root, '.gitignore'), 'utf8').split('\n')).toContain('release/');
    expect(config.directories?.buildResources).toBe('build');
  });

  it('npm run dist builds the app, then runs electron-builder with this file', () => {
    const dist = pkg.scripts.dist ?? '';
    expect(dist).toMatch(/^npm run build && electron-builder /);
    expect(dist).toContain(`--config ${CONFIG_FILE}`);
    expect(dist).toContain('--publish never');
    expect(pkg.devDependencies['electron-builder']).toBeDefined();
  });

  it("passes electron-builder's own schema validation, which refuses a misspelt option", async () => {
    const loaded = (await getConfig(root, path.join(root, CONFIG_FILE), null)) as BuilderConfig;
    expect(loaded.appId).toBe(config.appId);
    await expect(validateConfiguration(loaded as never, new DebugLogger(false))).resolves.toBe(
      undefined,
    );
    const misspelt = { ...loaded, nsis: { ...(loaded.nsis as object), oneClik: false } };
    await expect(validateConfiguration(misspelt as never, new DebugLogger(false))).rejects.toThrow(
      /configuration\.nsis/,
    );
  });

  it('packs what the app and its ranks need, and no tests, sources or build inputs', () => {
    const included = matcher(config.files ?? [], true);
    const spawned = spawnedModules();
    expect(spawned).toEqual(
      expect.arrayContaining(['dist/engine/rank.js', 'dist/engine/comm/comm-worker.js']),
    );
    for (const file of [...RUNTIME_FILES, ...spawned]) expect(included(file), file).toBe(true);
    // Production dependencies are copied by their own matcher, which takes only the excludes.
    const modules = matcher(
      getNodeModuleFileMatcher(root, root, same, {}, {
        config,
        debugLogger: new DebugLogger(false),
      } as never),
    );
    for (const file of ['node_modules/ws/index.js', 'node_modules/zod/package.json'])
      expect(modules(file), file).toBe(true);

    const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
    const sources = tracked.filter((f) =>
      /^(test|engine|electron|renderer|benchmarks|docs|scratch|build|bin|\.ci)\//.test(f),
    );
    expect(sources.length).toBeGreaterThan(50);
    // The PyTorch engine's Python package runs from its sources: shipped as they are.
    const python = sources.filter((f) => /^engine\/torch\/gradbench_torch\/[^/]+\.py$/.test(f));
    expect(python).toContain('engine/torch/gradbench_torch/rank.py');
    expect(python.filter((f) => !included(f))).toEqual([]);
    const packed = sources.filter((f) => included(f) && !python.includes(f));
    expect(packed).toEqual([]);
    for (const file of ['dist/engine/rank.js.map', 'dist/benchmarks/comm/bench-comm.js', 'x.ts'])
      expect(included(file), file).toBe(false);
  });

  it('unpacks the engine, its data and dependencies from the asar archive; ranks may run as Node', () => {
    expect(config.asar).toBe(true);
    const unpacked = matcher(config.asarUnpack ?? []);
    const engineFiles = [
      'package.json',
      'dist/engine/app/host.js',
      'data/tinyshakespeare.txt',
      'node_modules/ws/index.js',
      'node_modules/@tensorflow/tfjs/dist/index.js',
      ...spawnedModules(),
    ];
    for (const file of engineFiles) expect(unpacked(file), file).toBe(true);
    // The window's code stays in the archive.
    expect(unpacked('out/main/index.js')).toBe(false);
    // Ranks are started with ELECTRON_RUN_AS_NODE; that fuse must stay on.
    expect(config.electronFuses?.runAsNode).toBe(true);
  });

  it('resolves engine paths in the unpacked copy when packaged, and leaves others alone', () => {
    expect(unpackedPath('/opt/GradBench/resources/app.asar')).toBe(
      '/opt/GradBench/resources/app.asar.unpacked',
    );
    expect(unpackedPath('/opt/GradBench/resources/app.asar/dist/engine/rank.js')).toBe(
      '/opt/GradBench/resources/app.asar.unpacked/dist/engine/rank.js',
    );
    expect(unpackedPath('C:\\Program Files\\GradBench\\resources\\app.asar\\dist')).toBe(
      'C:\\Program Files\\GradBench\\resources\\app.asar.unpacked\\dist',
    );
    for (const p of ['/srv/app.asar.unpacked/dist', '/home/u/my-app.asarx/dist', root])
      expect(unpackedPath(p)).toBe(p);
    expect(packageRoot).toBe(root);
  });

  it('has a square RGBA PNG icon of at least 512 pixels for every platform', () => {
    const icons = new Set([config.icon, config.linux?.icon, config.win?.icon, config.mac?.icon]);
    expect(icons.has(undefined)).toBe(false);
    for (const icon of icons) {
      const file = path.join(root, icon!);
      expect(existsSync(file), icon).toBe(true);
      const png = readPng(file);
      expect(png.width).toBe(png.height);
      expect(png.width).toBeGreaterThanOrEqual(512);
      expect([png.bitDepth, png.colorType]).toEqual([8, 6]);
      expect(png.chunks.at(-1)).toBe('IEND');
    }
  });
});

/** The projection's surfaces: the API call, `gradbench project`, profile targets and baselines. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ProjectionView } from '../../engine/app/api.js';
import { checkCall, dispatch } from '../../engine/app/api-dispatch.js';
import { ApiService } from '../../engine/app/api-service.js';
import type { MethodSummary } from '../../engine/run/metrics.js';
import { checkProfile, parseProfile } from '../../engine/run/profile.js';
import { resolveMethods } from '../../engine/run/run-config.js';
import { compareToBaseline } from '../../engine/run/summary.js';
import { main } from '../../engine/cli.js';
import { resolveCluster } from '../../engine/run/cluster.js';
import {
  ratioPreservingLinks,
  resolveTargetNetwork,
  targetComputeMs,
} from '../../engine/projection/emulate-target.js';
import { predictFromProbe, predictionText } from '../../engine/projection/predict.js';
import type { RunProjection } from '../../engine/run/projection-types.js';
import { FAKE_RUN_ID, fakeRun, writeFakeRun } from './fake-run.js';

let home: string;
let dir: string;
beforeEach(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'gradbench-projection-'));
  dir = await writeFakeRun(
    home,
    fakeRun(
      {
        name: 'p',
        model: { preset: 'nano' },
        parallel: { worldSize: 2, nodes: 2 },
        network: { inter: { gbps: 0.05, latencyUs: 100 } },
        methods: [{ id: 'int8' }],
      },
      { wireBytes: 60_000, rawBytes: 220_000 },
    ),
  );
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(home, { recursive: true, force: true });
});

describe('projectRun API call', () => {
  it('validates its arguments at the boundary', () => {
    expect(checkCall('projectRun', ['r1']).args).toEqual(['r1']);
    expect(checkCall('projectRun', ['r1', 'dgx-a100-ib200']).args).toHaveLength(2);
    expect(() => checkCall('projectRun', [])).toThrow(/projectRun: arguments/);
    expect(() => checkCall('projectRun', [''])).toThrow(/projectRun: argument 1/);
    expect(() => checkCall('projectRun', ['r1', 42])).toThrow(/projectRun: argument 2/);
    // A transport that carries an absent second argument as JSON null: the run's own links.
    expect(checkCall('projectRun', ['r1', null]).args).toEqual(['r1', null]);
    expect(() => checkCall('projectRun', ['r1', 'x', 'y'])).toThrow(/projectRun/);
  });

  it('projects a stored run onto its own links, a preset and a description; names bad fields', async () => {
    const api = new ApiService({ home });
    const own = await api.projectRun(FAKE_RUN_ID);
    expect((await dispatch(api, 'projectRun', [FAKE_RUN_ID, null])) as ProjectionView).toEqual(own);
    expect(own.presets.map((p) => p.name)).toContain('dgx-a100-ib200');
    expect(own.projection.methods.map((m) => m.method)).toEqual(['fsdp', 'int8']);
    expect(own.projection.methods[0].errorVsMeasured).toBeDefined();
    const preset = await api.projectRun(FAKE_RUN_ID, '2x1-a100-10gbe');
    expect(preset.projection.cluster.name).toBe('2x1-a100-10gbe');
    expect(preset.projection.methods[0].errorVsMeasured).toBeUndefined();
    const custom = await api.projectRun(FAKE_RUN_ID, {
      nodes: 2,
      gpusPerNode: 1,
      inter: { gbps: 1, latencyUs: 50 },
    });
    expect(custom.projection.world).toBe(2);
    await expect(api.projectRun(FAKE_RUN_ID, { nodes: 2, gpusPerNode: 1 })).rejects.toThrow(
      /inter: /,
    );
  });
});

describe('gradbench project', () => {
  async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
    const code = await main(args);
    vi.restoreAllMocks();
    return { code, out, err };
  }

  it('prints predicted and measured step per method, JSON on request, clear errors', async () => {
    const text = await cli(['project', dir]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/METHOD .*STEP .*VS FSDP .*VS BF16 .*MEASURED .*ERROR/);
    expect(text.out).toMatch(/int8 .*all-to-all/);
    expect(text.out).toMatch(/inputs:/);
    const json = await cli(['project', dir, '--cluster', 'dgx-a100-ib200', '--json']);
    const r = JSON.parse(json.out) as RunProjection;
    expect(r.world).toBe(32);
    expect(r.methods[1].speedupVsFsdp).toBeGreaterThan(0);
    const file = path.join(home, 'bad-cluster.json');
    await writeFile(file, JSON.stringify({ nodes: 2, gpusPerNode: 1, inter: 'carrier-pigeon' }));
    const bad = await cli(['project', dir, '--cluster', file]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/inter: use a link preset/);
    expect((await cli(['project'])).code).toBe(2);
  });
});

describe('ratio-preserving emulation', () => {
  const profile = parseProfile({
    name: 't',
    model: { preset: 'nano' },
    parallel: { worldSize: 2, nodes: 2 },
    network: { target: { cluster: '2x1-a100-10gbe' } },
  });

  it('scales the target links by box compute / target compute and records what it stands for', async () => {
    const c = resolveCluster('2x1-a100-10gbe');
    const target = targetComputeMs(profile, c);
    const r = await resolveTargetNetwork(profile, async () => ({
      computeMs: 1000 * target,
      busGbps: 0,
      allReduceBytes: 0,
      allReduceMs: 0,
      ranks: 2,
    }));
    expect(r.emulation?.scale).toBeCloseTo(1000, 6);
    expect(r.profile.network.inter).toEqual({ gbps: 10 / 1000, latencyUs: 30 * 1000 });
    expect(r.emulation?.cluster.name).toBe('2x1-a100-10gbe');
    expect(r.profile.network.emulate).toBe(true);
  });

  it('refuses a target without a GPU figure or out of the emulator range, names bad fields', () => {
    const noGpu = resolveCluster({ nodes: 2, gpusPerNode: 1, inter: '10GbE' });
    expect(() => targetComputeMs(profile, noGpu)).toThrow(/gpu: \{ tflops, efficiency \}/);
    const c = resolveCluster('dgx-h100-ib400');
    expect(() => ratioPreservingLinks(profile, c, 1e-9, 'probe')).toThrow(
      /outside what the emulator/,
    );
    const r = checkProfile({ name: 'x', network: { target: { cluster: 'no-such' } } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0].path).toBe('network.target.cluster');
  });
});

describe('bf16-reduce baseline', () => {
  it('runs second when asked, and every method gets a speedup against it', () => {
    const p = parseProfile({ name: 'b', baselines: ['fsdp', 'bf16'], methods: [{ id: 'int8' }] });
    expect(resolveMethods(p).map((m) => m.key)).toEqual(['fsdp', 'bf16', 'int8']);
    const s = (method: string, meanStepMs: number): MethodSummary =>
      ({
        method,
        label: method,
        status: 'completed',
        steps: 5,
        meanStepMs,
        finalLoss: 1,
      }) as MethodSummary;
    const out = compareToBaseline([s('fsdp', 200), s('bf16', 100), s('int8', 80)]);
    expect(out.map((m) => m.speedupVsBaseline)).toEqual([1, 2, 2.5]);
    expect(out.map((m) => m.speedupVsBf16)).toEqual([0.5, 1, 1.25]);
  });
});

describe('prediction before a run', () => {
  it('predicts from probe figures, measures payloads on a synthetic gradient, skips rounds methods', () => {
    const profile = parseProfile({
      name: 'w',
      model: { preset: 'nano' },
      parallel: { worldSize: 2, nodes: 2 },
      network: { inter: { gbps: 0.05, latencyUs: 100 } },
      baselines: ['fsdp', 'bf16'],
      methods: [{ id: 'int8' }, { id: 'powersgd' }],
    });
    const probe = {
      computeMs: 100,
      busGbps: 0.05,
      allReduceBytes: 1 << 20,
      allReduceMs: 300,
      ranks: 2,
    };
    const p = predictFromProbe(profile, probe);
    expect(p.methods.map((m) => m.method)).toEqual(['fsdp', 'bf16', 'int8']);
    expect(p.skipped).toEqual(['powersgd']);
    const bf16 = p.methods[1];
    expect(bf16.wireRatio).toBeCloseTo(0.5, 6);
    expect(p.methods[2].wireRatio).toBeGreaterThan(0.25);
    expect(p.methods[2].wireRatio).toBeLessThan(0.3);
    // Halving the reduce-scatter's bytes shortens the time the link is busy. (Whether the whole
    // step gets shorter also depends on the codec cost the probe measures live on this machine,
    // which a loaded machine inflates, so that is not asserted.)
    expect(bf16.commMs).toBeLessThan(p.methods[0].commMs);
    expect(bf16.speedupVsFsdp).toBeGreaterThan(0);
    expect(p.inputs.join('\n')).toMatch(/bus bandwidth 0\.05 Gb\/s/);
    expect(predictionText(p)).toMatch(/PREDICTED VS FSDP/);
  });
});

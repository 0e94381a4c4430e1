import { readdir } from 'node:fs/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiCallError, checkCall, dispatch } from '../../engine/app/api-dispatch.js';
import { ApiService } from '../../engine/app/api-service.js';
import { profilesDir } from '../../engine/util/home.js';
import { handleCall } from '../../electron/main/ipc.js';
import { tempDirs } from './helpers.js';

const newDir = tempDirs();
let service: ApiService;
let home: string;

beforeEach(async () => {
  home = await newDir();
  service = new ApiService({
    home,
    detect: async () => ({ node: { version: '20', v8: '11' }, missing: [] }),
  });
});

const validProfile = {
  name: 'two ranks',
  methods: [{ id: 'fp16' }, { id: 'topk', params: { ratio: 0.05 } }],
};

describe('API dispatch', () => {
  it('rejects unknown calls, non-array arguments and wrongly typed arguments, naming them', async () => {
    expect(() => checkCall('rm -rf', [])).toThrow(
      /unknown API call "rm -rf"; known calls: version/,
    );
    expect(() => checkCall('__proto__', [])).toThrow(ApiCallError);
    expect(() => checkCall('getRun', 'x')).toThrow('getRun: arguments must be an array');
    expect(() => checkCall('getRun', [42])).toThrow(/getRun: argument 1: .*expected string/);
    expect(() => checkCall('exportCsv', ['r', 'xml'])).toThrow(/exportCsv: argument 2/);
    expect(() => checkCall('version', [1])).toThrow(/version: /);
    expect(() => checkCall('startRun', [{ profileName: 'a', extra: 1 }])).toThrow(
      /startRun: argument 1/,
    );
    expect(() => checkCall('saveProfile', ['{"name":"x"}'])).toThrow(/saveProfile: argument 1/);
    await expect(dispatch(service, 'deleteRun', [null])).rejects.toThrow(/deleteRun: argument 1/);
  });

  it('runs valid calls on the service', async () => {
    const v = (await dispatch(service, 'version', [])) as { name: string; dataDir: string };
    expect(v).toMatchObject({ name: 'gradbench', dataDir: home });
    const cat = (await dispatch(service, 'catalog', [])) as {
      methods: { id: string; params: { name: string; kind: string }[] }[];
    };
    const topk = cat.methods.find((m) => m.id === 'topk')!;
    expect(topk.params.find((p) => p.name === 'ratio')).toMatchObject({
      kind: 'number',
      default: 0.01,
    });
    expect(cat.methods.map((m) => m.id)).toEqual(
      expect.arrayContaining(['fp16', 'int8', 'powersgd', 'tagc', 'lhc']),
    );
  });

  it('reports invalid profile fields by path, cross-field checks included, and saves nothing', async () => {
    const r = await service.validateProfile({
      name: 'bad',
      train: { steps: 0 },
      parallel: { worldSize: 3, nodes: 2 },
    });
    expect(r.ok).toBe(false);
    const paths = r.ok ? [] : r.issues.map((i) => i.path);
    expect(paths).toContain('train.steps');
    const saved = await service.saveProfile({ name: 'bad', methods: [{ id: 'nope' }] });
    expect(saved.ok).toBe(false);
    if (!saved.ok) expect(saved.issues[0].message).toMatch(/nope/);
    expect(await readdir(profilesDir(home)).catch(() => [])).toEqual([]);
    const builtin = await service.saveProfile({ name: 'default' });
    expect(builtin.ok).toBe(false);
    if (!builtin.ok) expect(builtin.issues[0]).toMatchObject({ path: 'name' });
  });

  it('saves a valid profile and tells subscribers', async () => {
    const events: string[] = [];
    service.onEvent((e) => events.push(e.type));
    const r = await service.saveProfile(validProfile);
    expect(r.ok).toBe(true);
    const names = (await service.listProfiles()).map((p) => p.name);
    expect(names).toContain('two ranks');
    expect(events).toEqual(['profiles-changed']);
    await service.deleteProfile('two ranks');
    expect((await service.listProfiles()).map((p) => p.name)).not.toContain('two ranks');
  });
});

describe('IPC handler', () => {
  const isApp = (url: string): boolean => url.startsWith('file:///app/');
  const run = (frameUrl: string | undefined, name: unknown, args: unknown) =>
    handleCall(
      (n, a) => dispatch(service, n, a),
      isApp,
      { senderFrame: frameUrl ? { url: frameUrl } : null },
      name,
      args,
    );

  it('answers the app frame and rejects other frames', async () => {
    await expect(run('file:///app/index.html', 'version', [])).resolves.toMatchObject({
      name: 'gradbench',
    });
    await expect(run('https://evil.example/', 'version', [])).rejects.toThrow(/untrusted frame/);
    await expect(run(undefined, 'version', [])).rejects.toThrow(/untrusted frame/);
  });

  it('rejects malformed payloads before they reach the service', async () => {
    await expect(run('file:///app/index.html', 'deleteProfile', [{ name: 'x' }])).rejects.toThrow(
      /deleteProfile: argument 1/,
    );
    await expect(run('file:///app/index.html', 'nope', [])).rejects.toThrow(/unknown API call/);
    await expect(run('file:///app/index.html', 'listRuns', null)).rejects.toThrow(
      /must be an array/,
    );
  });
});

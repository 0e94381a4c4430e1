import { describe, expect, it } from 'vitest';
import { detectHardware, type HardwareSource } from '../../engine/app/hardware.js';
import type { BackendProbe } from '../../engine/model/backend.js';
import type { TorchProbe } from '../../engine/app/api.js';

const cpu = { manufacturer: 'AMD', brand: 'EPYC 9654', cores: 8, physicalCores: 4, speed: 2.4 };
const probe = async (): Promise<BackendProbe[]> => [
  { name: 'cpu', backend: 'cpu', available: true, detail: 'pure JavaScript (slowest)' },
];

const torch = async (): Promise<TorchProbe> => ({
  available: false,
  reason: 'no python3 with torch',
  options: [],
});

function source(over: Partial<HardwareSource> = {}): HardwareSource {
  return {
    cpu: async () => cpu,
    mem: async () => ({ total: 64 * 2 ** 30, available: 40 * 2 ** 30 }),
    graphics: async () => ({
      controllers: [
        {
          vendor: 'NVIDIA',
          model: 'GH100',
          name: 'NVIDIA H100 80GB HBM3',
          vram: 81559,
          memoryTotal: 81559,
          driverVersion: '550.54.15',
        },
        { vendor: 'Matrox', model: 'G200eR2', vram: 0 },
      ],
      displays: [{ vendor: 'Matrox', driverVersion: '5.1' } as never],
    }),
    osInfo: async () => ({ platform: 'linux', distro: 'Ubuntu', release: '22.04', arch: 'x64' }),
    ...over,
  };
}

describe('detectHardware', () => {
  it('collects cpu, memory, gpus with drivers, os, node and backends', async () => {
    const h = await detectHardware({ source: source(), probe, torch });
    expect(h.cpu).toEqual({
      manufacturer: 'AMD',
      brand: 'EPYC 9654',
      cores: 8,
      physicalCores: 4,
      speedGHz: 2.4,
    });
    expect(h.memory).toEqual({ totalBytes: 64 * 2 ** 30, availableBytes: 40 * 2 ** 30 });
    expect(h.gpus).toEqual([
      { model: 'NVIDIA H100 80GB HBM3', vendor: 'NVIDIA', vramMB: 81559, driver: '550.54.15' },
      { model: 'G200eR2', vendor: 'Matrox', vramMB: undefined, driver: '5.1' },
    ]);
    expect(h.os).toEqual({ platform: 'linux', distro: 'Ubuntu', release: '22.04', arch: 'x64' });
    expect(h.node.version).toBe(process.versions.node);
    expect(h.backends).toHaveLength(1);
    expect(h.torch).toEqual(await torch());
    expect(h.missing).toEqual([]);
  });

  it('returns what it has when a query hangs, naming the missing part', async () => {
    const hang = (): Promise<never> => new Promise(() => undefined);
    const started = Date.now();
    const h = await detectHardware({
      source: source({ graphics: hang }),
      probe: hang,
      torch,
      timeoutMs: 300,
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(h.gpus).toBeUndefined();
    expect(h.backends).toBeUndefined();
    expect(h.cpu?.cores).toBe(8);
    expect(h.missing).toEqual(['backends: timed out after 0.3 s', 'gpus: timed out after 0.3 s']);
  });

  it('reports a failing query without failing the rest', async () => {
    const h = await detectHardware({
      source: source({ osInfo: async () => Promise.reject(new Error('lsb_release not found')) }),
      probe,
      torch,
    });
    expect(h.os).toBeUndefined();
    expect(h.missing).toEqual(['os: lsb_release not found']);
    expect(h.memory?.totalBytes).toBe(64 * 2 ** 30);
  });

  it('works on this machine within the default deadline', async () => {
    const h = await detectHardware({ probe });
    expect(h.cpu === undefined || h.cpu.cores > 0).toBe(true);
    expect(h.node.version).toBe(process.versions.node);
  }, 20_000);
});

/**
 * What this machine offers a benchmark: CPU, memory, GPUs (with driver), OS, Node, which tfjs
 * backends load, and what the PyTorch engine can run. Each query runs under one deadline (10 s by default): a query that hangs
 * (a stuck nvidia-smi, a slow WMI call) leaves its part out and is named in `missing`, and the
 * rest is still returned.
 */
import si from 'systeminformation';
import type { Systeminformation } from 'systeminformation';
import { probeBackends } from '../model/backend.js';
import { torchProbe } from '../torch/probe.js';
import type { BackendProbe, GpuInfo, HardwareInfo, TorchProbe } from './api.js';

export type { CpuInfo, GpuInfo, HardwareInfo } from './api.js';

/** The systeminformation calls used here (injectable for tests). */
export interface HardwareSource {
  cpu(): Promise<
    Pick<Systeminformation.CpuData, 'manufacturer' | 'brand' | 'cores' | 'physicalCores' | 'speed'>
  >;
  mem(): Promise<Pick<Systeminformation.MemData, 'total' | 'available'>>;
  graphics(): Promise<{
    controllers: Partial<Systeminformation.GraphicsControllerData>[];
    displays?: Partial<Systeminformation.GraphicsDisplayData>[];
  }>;
  osInfo(): Promise<Pick<Systeminformation.OsData, 'platform' | 'distro' | 'release' | 'arch'>>;
}

export interface DetectOptions {
  /** Overall deadline for every query together. */
  timeoutMs?: number;
  source?: HardwareSource;
  probe?: () => Promise<BackendProbe[]>;
  /** The PyTorch engine's probe (python3, torch, CUDA, NCCL, options). */
  torch?: () => Promise<TorchProbe>;
}

class Timeout extends Error {}

function gpuInfo(
  c: Partial<Systeminformation.GraphicsControllerData>,
  displays: Partial<Systeminformation.GraphicsDisplayData>[],
): GpuInfo {
  const vendor = c.vendor ?? '';
  const display = displays.find(
    (d) => (d as { driverVersion?: unknown }).driverVersion && d.vendor === vendor,
  ) as { driverVersion?: string } | undefined;
  const vram = c.memoryTotal ?? c.vram ?? undefined;
  return {
    model: c.name || c.model || 'unknown',
    vendor,
    vramMB: typeof vram === 'number' && vram > 0 ? vram : undefined,
    driver: c.driverVersion || display?.driverVersion || undefined,
  };
}

export async function detectHardware(options: DetectOptions = {}): Promise<HardwareInfo> {
  const { timeoutMs = 10_000, source = si, probe = probeBackends, torch = torchProbe } = options;
  const info: HardwareInfo = {
    node: { version: process.versions.node, v8: process.versions.v8 },
    missing: [],
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Timeout()), timeoutMs);
    timer.unref();
  });
  deadline.catch(() => undefined);
  const gather = async <T>(part: string, query: () => Promise<T>, use: (v: T) => void) => {
    try {
      use(await Promise.race([query(), deadline]));
    } catch (e) {
      const why =
        e instanceof Timeout
          ? `timed out after ${+(timeoutMs / 1000).toFixed(1)} s`
          : (e as Error).message;
      info.missing.push(`${part}: ${why}`);
    }
  };
  try {
    await Promise.all([
      gather(
        'cpu',
        () => source.cpu(),
        (c) => {
          info.cpu = {
            manufacturer: c.manufacturer,
            brand: c.brand,
            cores: c.cores,
            physicalCores: c.physicalCores,
            speedGHz: c.speed,
          };
        },
      ),
      gather(
        'memory',
        () => source.mem(),
        (m) => {
          info.memory = { totalBytes: m.total, availableBytes: m.available };
        },
      ),
      gather(
        'gpus',
        () => source.graphics(),
        (g) => {
          info.gpus = g.controllers.map((c) => gpuInfo(c, g.displays ?? []));
        },
      ),
      gather(
        'os',
        () => source.osInfo(),
        (o) => {
          info.os = { platform: o.platform, distro: o.distro, release: o.release, arch: o.arch };
        },
      ),
      gather('backends', probe, (b) => {
        info.backends = b;
      }),
      gather('torch', torch, (t) => {
        info.torch = t;
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  info.missing.sort();
  return info;
}

/** `gradbench hardware`: what this machine offers a run. */
import { formatBytes, table } from '../util/format.js';
import type { HardwareInfo } from '../app/hardware.js';
import { torchRows } from '../torch/describe.js';
import { json, parse, print } from './args.js';

function hardwareText(h: HardwareInfo): string {
  const rows: string[][] = [];
  if (h.cpu) {
    const speed = h.cpu.speedGHz ? `, ${h.cpu.speedGHz} GHz` : '';
    rows.push([
      'CPU',
      `${h.cpu.manufacturer} ${h.cpu.brand} (${h.cpu.physicalCores} cores, ${h.cpu.cores} threads${speed})`,
    ]);
  }
  if (h.memory)
    rows.push([
      'Memory',
      `${formatBytes(h.memory.totalBytes)} total, ${formatBytes(h.memory.availableBytes)} available`,
    ]);
  if (h.gpus) {
    if (!h.gpus.length) rows.push(['GPU', 'none found']);
    for (const g of h.gpus) {
      const vram = g.vramMB ? `, ${formatBytes(g.vramMB * 1024 * 1024)}` : '';
      rows.push([
        'GPU',
        `${g.vendor ? `${g.vendor} ` : ''}${g.model}${vram}, driver ${g.driver ?? 'unknown'}`,
      ]);
    }
  }
  if (h.os) rows.push(['OS', `${h.os.distro} ${h.os.release} (${h.os.platform}, ${h.os.arch})`]);
  rows.push(['Node', `${h.node.version} (V8 ${h.node.v8})`]);
  for (const b of h.backends ?? [])
    rows.push(['Backend', `${b.available ? 'yes' : 'no '}  ${b.name} (${b.backend}): ${b.detail}`]);
  if (h.torch) rows.push(...torchRows(h.torch));
  for (const m of h.missing) rows.push(['Missing', m]);
  return table(['PART', 'DETAILS'], rows, { maxWidth: 120 });
}

export async function hardwareCommand(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    { json },
    { min: 0, max: 0, usage: 'gradbench hardware [--json]' },
  );
  // Loaded on demand: the backend probe pulls in tfjs, which takes a second to import.
  const { detectHardware } = await import('../app/hardware.js');
  const info = await detectHardware();
  print(values.json ? JSON.stringify(info, null, 2) : hardwareText(info));
  return 0;
}

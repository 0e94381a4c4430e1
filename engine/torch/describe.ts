/** The PyTorch engine's probe as rows of `gradbench hardware` (PART, DETAILS). */
import type { TorchProbe } from './torch-probe.js';

export function torchRows(t: TorchProbe): string[][] {
  if (!t.torch) return [['PyTorch', `engine unavailable: ${t.reason ?? 'unknown'}`]];
  const cuda = t.cuda?.available
    ? `CUDA ${t.cuda.version ?? '?'}: ${t.cuda.devices.join(', ')}`
    : 'no CUDA devices';
  const nccl = t.nccl?.available ? `NCCL ${t.nccl.version ?? 'built in'}` : 'no NCCL';
  const rows = [
    [
      'PyTorch',
      `torch ${t.torch} on Python ${t.python} (${t.executable}); ${cuda}; ${nccl}; gloo ${t.gloo ? 'yes' : 'no'}`,
    ],
  ];
  if (!t.available) rows.push(['PyTorch', `engine unavailable: ${t.reason ?? 'unknown'}`]);
  for (const o of t.options)
    rows.push([
      'Engine',
      `${o.available ? 'yes' : 'no '}  ${o.name}${o.reason ? `: ${o.reason}` : ''}`,
    ]);
  return rows;
}

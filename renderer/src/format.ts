/** Display formatting for the pages (numbers, bytes, durations). */
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  const { unit, divisor } = byteScale(Math.abs(n));
  return `${(n / divisor).toFixed(divisor === 1 ? 0 : 1)} ${unit}`;
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

export function formatNum(n: number | undefined, digits = 3): string {
  return n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

export function formatEta(sec: number | undefined): string {
  if (sec === undefined || !Number.isFinite(sec)) return '';
  if (sec < 60) return `${Math.round(sec)} s left`;
  return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s left`;
}

/** The binary unit the largest of some byte counts reads best in (the tables use the same units). */
export function byteScale(maxBytes: number): { unit: string; divisor: number } {
  let u = 0;
  while (maxBytes >= 1024 ** (u + 1) && u < BYTE_UNITS.length - 1) u++;
  return { unit: BYTE_UNITS[u], divisor: 1024 ** u };
}

/** `1.30×`, or '–' when not measured. */
export function formatTimes(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`;
}

/** `37 %` of a 0-1 share. */
export function formatShare(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : `${Math.round(100 * x)} %`;
}

const STATUS_PHRASES: Record<string, string> = {
  cancelled: 'was cancelled',
  interrupted: 'was interrupted (the app or the machine stopped during it)',
  'not started': 'did not start',
  running: 'is still running',
  unknown: 'has no summary: it stopped before writing one',
};

/** A run's or method's status as the end of a sentence: "FSDP (fp32) was cancelled". */
export const statusPhrase = (status: string): string => STATUS_PHRASES[status] ?? status;

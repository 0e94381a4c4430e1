/** Text formatting shared by the CLI commands: tables, byte sizes, durations, dates. */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Three significant digits, at most `maxDecimals` decimals, no trailing zeros. */
function sig3(x: number, maxDecimals = 2): string {
  const decimals = Math.min(maxDecimals, Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x) || 1))));
  return String(Number(x.toFixed(decimals)));
}

/** `1536` -> `1.5 KiB`, `0` -> `0 B`. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '-';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (Number(sig3(value)) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${bytes < 0 ? '-' : ''}${unit === 0 ? Math.round(value) : sig3(value)} ${BYTE_UNITS[unit]}`;
}

/** `0.42 ms`, `850 ms`, `12.3 s`, `4 min 05 s`, `1 h 02 min`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${sig3(ms)} ms`;
  if (ms < 59_950) return `${sig3(ms / 1000, 1)} s`;
  const totalS = Math.round(ms / 1000);
  if (totalS < 3600) {
    return `${Math.floor(totalS / 60)} min ${String(totalS % 60).padStart(2, '0')} s`;
  }
  const totalMin = Math.round(totalS / 60);
  return `${Math.floor(totalMin / 60)} h ${String(totalMin % 60).padStart(2, '0')} min`;
}

/** "1 node", "2 nodes": a count and its noun, with the plural the count needs. */
export function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? '' : 's'}`;
}

/** A number with at most `decimals` decimals (trailing zeros dropped); '-' when absent. */
export function formatNumber(n: number | undefined, decimals = 3): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return String(Number(n.toFixed(decimals)));
}

/** An ISO timestamp as local `YYYY-MM-DD HH:MM:SS`; the input unchanged if it does not parse. */
export function formatDate(iso: string | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export interface TableOptions {
  /** Per column: 'r' right-aligns (numbers); default left. */
  align?: ('l' | 'r')[];
  /** Cells longer than this are cut with an ellipsis. */
  maxWidth?: number;
}

/** A plain-text table: header, a rule, rows; columns separated by two spaces. */
export function table(header: string[], rows: string[][], options: TableOptions = {}): string {
  const { align = [], maxWidth = 60 } = options;
  const cut = (s: string): string => (s.length > maxWidth ? `${s.slice(0, maxWidth - 1)}…` : s);
  const cells = [header, ...rows].map((r) => header.map((_, i) => cut(r[i] ?? '')));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

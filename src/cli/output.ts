import Table from 'cli-table3';
import pc from 'picocolors';

/** Everything a command prints goes through here, so tests and scripts see one format. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}
export function err(line = ''): void {
  process.stderr.write(`${line}\n`);
}

/** Stable, indented JSON for `--json`. */
export const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));

/** A table with plain borders; colour only in the header, and only where picocolors allows it (NO_COLOR, TTY). */
export function printTable(head: string[], rows: Array<Array<string | number>>): void {
  const table = new Table({
    head: head.map((h) => pc.bold(h)),
    style: { head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 0 },
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
  });
  for (const row of rows) table.push(row.map(String));
  out(
    table
      .toString()
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n'),
  );
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export const formatPercent = (fraction: number | null | undefined) =>
  fraction === null || fraction === undefined ? '-' : `${Math.floor(fraction * 100)}%`;

export const formatCount = (n: number | null | undefined) =>
  n === null || n === undefined ? '-' : n.toLocaleString('en-US');

export function formatAge(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  return `${formatDuration((now - Date.parse(iso)) / 1000)} ago`;
}

/** Status words coloured by meaning (plain when colour is off). */
export function colorStatus(status: string): string {
  switch (status) {
    case 'READY':
    case 'ONLINE':
    case 'SUCCESS':
      return pc.green(status);
    case 'ERROR':
    case 'FAILED':
    case 'OFFLINE':
      return pc.red(status);
    case 'DOWNLOADING':
    case 'LOADING':
    case 'PENDING':
    case 'IN_PROGRESS':
      return pc.yellow(status);
    default:
      return status;
  }
}

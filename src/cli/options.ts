import { InvalidArgumentError } from 'commander';

/** An option value from a fixed set, case-insensitive; a wrong one names the valid ones. */
export function oneOf(values: readonly string[]) {
  return (raw: string): string => {
    const value = raw.toUpperCase();
    if (!values.includes(value)) throw new InvalidArgumentError(`use one of ${values.join(', ')}.`);
    return value;
  };
}

export function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('use a whole number ≥ 1.');
  return n;
}

/** For repeatable options (`--node a --node b`). */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

export const MODEL_STATUSES = ['AVAILABLE', 'REGISTERED', 'DOWNLOADING', 'READY', 'ERROR'] as const;
export const REPAIR_STATUSES = ['IDLE', 'IN_PROGRESS', 'SUCCESS', 'FAILED'] as const;
export const NODE_STATUSES = ['ONLINE', 'OFFLINE'] as const;
export const KEY_ROLES = ['ADMIN', 'OPERATOR', 'VIEWER', 'INFERENCE'] as const;

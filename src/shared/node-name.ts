import { z } from 'zod';

/**
 * A node's name, as the control plane accepts it at registration and as the agent checks NODE_NAME at boot: one rule in
 * one place, so a name the control plane would refuse never gets as far as a running agent.
 */
export const NODE_NAME_MAX_LENGTH = 200;
export const NODE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const NODE_NAME_RULE = `1 to ${NODE_NAME_MAX_LENGTH} characters: letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. gpu-01); no spaces`;

export const nodeNameSchema = z
  .string()
  .trim()
  .min(1, `must be ${NODE_NAME_RULE}`)
  .max(NODE_NAME_MAX_LENGTH, `must be ${NODE_NAME_RULE}`)
  .regex(NODE_NAME_PATTERN, `must be ${NODE_NAME_RULE}`);

/** A usable default name from the machine's host name (which may hold characters the rule refuses). */
export function nodeNameFromHostname(hostname: string): string {
  const cleaned = hostname
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, NODE_NAME_MAX_LENGTH);
  return cleaned || 'node';
}

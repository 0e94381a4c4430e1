/**
 * Validation messages a person can act on: "must be 1 or more" rather than zod's
 * "Too small: expected number to be >=1". Passed as the per-parse error map wherever a profile is
 * checked, so the form, the CLI and imported files all read the same. Messages a schema words
 * itself (refinements, cross-field checks) are kept as they are.
 */
import type { z } from 'zod';

type Issue = z.core.$ZodRawIssue;

const LIST_LIMIT = 8;

function quoteList(values: readonly unknown[]): string {
  const shown = values.slice(0, LIST_LIMIT).map((v) => JSON.stringify(v));
  return `${shown.join(', ')}${values.length > LIST_LIMIT ? ', …' : ''}`;
}

function bound(issue: Issue & { inclusive?: boolean }, n: number, side: 'min' | 'max'): string {
  if (side === 'max' && n >= Number.MAX_SAFE_INTEGER) return 'is too large';
  if (issue.inclusive === false)
    return side === 'min' ? `must be more than ${n}` : `must be less than ${n}`;
  return side === 'min' ? `must be ${n} or more` : `must be ${n} or less`;
}

/** A plain sentence for one issue, or undefined to keep the schema's own message. */
export function plainIssueMessage(issue: Issue): string | undefined {
  const missing = issue.input === undefined || issue.input === '';
  switch (issue.code) {
    case 'invalid_type':
      if (missing) return 'is required';
      if (issue.expected === 'int') return 'must be a whole number';
      if (issue.expected === 'number') return 'must be a number';
      if (issue.expected === 'boolean') return 'must be on or off';
      if (issue.expected === 'string') return 'must be text';
      return undefined;
    case 'too_small':
      if (issue.origin === 'string')
        return Number(issue.minimum) <= 1
          ? 'is required'
          : `needs at least ${issue.minimum} characters`;
      if (issue.origin === 'array') return `needs at least ${issue.minimum}`;
      return bound(issue, Number(issue.minimum), 'min');
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      if (issue.origin === 'array') return `takes at most ${issue.maximum}`;
      return bound(issue, Number(issue.maximum), 'max');
    case 'invalid_value':
      return `must be one of ${quoteList(issue.values)}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${quoteList(issue.keys)}`;
    default:
      return undefined;
  }
}

/** The `error` option for safeParse. */
export const PLAIN_ERRORS = { error: plainIssueMessage } as const;

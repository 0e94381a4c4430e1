/**
 * Structural checks for a JSON document from outside (an imported profile, a payload over IPC or
 * the HTTP bridge), run before schema validation. The schema passes free-form parts (method
 * params, layer policies) through as they are, so without these a deeply nested value would
 * overflow the stack when the profile is saved, and a key such as `__proto__` would be dropped or
 * reach code that indexes objects by it. The walk is iterative and stops at the first depth or
 * size problem, so a cyclic or enormous object costs at most `maxBytes` steps.
 */
import type { FieldIssue } from './profile-doc.js';

export interface JsonShapeLimits {
  /** Deepest nesting of objects and arrays (the document itself is depth 1). */
  maxDepth: number;
  /** Largest size as JSON text (estimated from the values while walking). */
  maxBytes: number;
  /** What the document is, for messages: "a profile". */
  what: string;
  /** The path named for a problem with the whole document. */
  root: string;
}

/** Keys that name JavaScript prototype machinery; never meaningful in a document. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/** Reserved-key problems listed before the walk gives up listing them. */
const MAX_KEY_ISSUES = 20;

/** A key as it appears in a dotted path; odd keys (spaces, dots, newlines) quoted. */
const pathPart = (key: string | number): string =>
  typeof key === 'number' || /^[A-Za-z0-9_$-]+$/.test(key) ? String(key) : JSON.stringify(key);

function kindOf(value: object): string {
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)
    ?.constructor?.name;
  return name || 'object';
}

/** Problems with the document's structure, by field; empty when it is plain, small JSON. */
export function jsonShapeIssues(value: unknown, limits: JsonShapeLimits): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const stack: { value: unknown; path: (string | number)[]; depth: number }[] = [
    { value, path: [], depth: 1 },
  ];
  let bytes = 0;
  let keyIssues = 0;
  const dotted = (path: readonly (string | number)[]): string =>
    path.length ? path.map(pathPart).join('.') : limits.root;
  const tooBig = (): FieldIssue[] => [
    {
      path: limits.root,
      message: `larger than ${limits.maxBytes / 1024} KiB as JSON; ${limits.what} may be at most ${limits.maxBytes / 1024} KiB`,
    },
  ];
  while (stack.length) {
    const item = stack.pop()!;
    const v = item.value;
    if (v === null || typeof v === 'boolean') {
      bytes += 5;
    } else if (typeof v === 'string') {
      bytes += v.length + 2;
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v))
        issues.push({ path: dotted(item.path), message: `must be a finite number, got ${v}` });
      bytes += 24;
    } else if (typeof v === 'object') {
      const isArray = Array.isArray(v);
      const proto = Object.getPrototypeOf(v) as unknown;
      if (!isArray && proto !== Object.prototype && proto !== null) {
        issues.push({
          path: dotted(item.path),
          message: `not a JSON value (${kindOf(v)}); use an object, array, string, number, boolean or null`,
        });
        continue;
      }
      if (item.depth > limits.maxDepth) {
        return [
          {
            path: dotted(item.path),
            message: `nested deeper than ${limits.maxDepth} levels; ${limits.what} may nest at most ${limits.maxDepth} levels`,
          },
        ];
      }
      bytes += 2;
      const keys: (string | number)[] = isArray ? [] : Object.keys(v);
      const count = isArray ? (v as unknown[]).length : keys.length;
      for (let i = 0; i < count; i++) {
        const key = isArray ? i : keys[i];
        bytes += typeof key === 'string' ? key.length + 4 : 1;
        if (bytes > limits.maxBytes) return tooBig();
        if (typeof key === 'string' && RESERVED_KEYS.has(key)) {
          if (keyIssues++ < MAX_KEY_ISSUES)
            issues.push({
              path: dotted([...item.path, key]),
              message: `"${key}" is a reserved name and cannot be used as a key; rename or remove it`,
            });
          continue;
        }
        const child = (v as Record<string | number, unknown>)[key];
        stack.push({ value: child, path: [...item.path, key], depth: item.depth + 1 });
      }
    } else {
      issues.push({
        path: dotted(item.path),
        message: `not a JSON value (${typeof v}); use an object, array, string, number, boolean or null`,
      });
    }
    if (bytes > limits.maxBytes) return tooBig();
  }
  return issues;
}

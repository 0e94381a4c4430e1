/**
 * What the run designer offers, derived from the engine's own tables (method registry, model
 * presets, link presets), so a new method or preset shows up in the app without UI changes.
 */
import { z } from 'zod';
import { LINK_PRESETS } from '../comm/emulation.js';
import { ALL_METHODS } from '../compress/registry.js';
import type { Catalog, MethodCatalogEntry, ParamField } from './api.js';
import {
  BACKENDS,
  CORPORA,
  ENGINES,
  MODEL_PRESET_NAMES,
  SHARDING_STRATEGIES,
} from '../run/profile.js';

interface JsonSchemaProp {
  type?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  description?: string;
}

/** One form field per property of a method's parameter schema. */
export function paramFields(schema: z.ZodType): ParamField[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonSchemaProp>;
  };
  return Object.entries(json.properties ?? {}).map(([name, p]): ParamField => {
    const kind: ParamField['kind'] = p.enum
      ? 'enum'
      : p.type === 'integer' || p.type === 'number' || p.type === 'boolean'
        ? p.type
        : 'string';
    return {
      name,
      kind,
      ...(p.default !== undefined ? { default: p.default } : {}),
      ...(p.minimum !== undefined ? { min: p.minimum } : {}),
      ...(p.maximum !== undefined ? { max: p.maximum } : {}),
      ...(p.exclusiveMinimum !== undefined ? { above: p.exclusiveMinimum } : {}),
      ...(p.enum ? { options: p.enum.map(String) } : {}),
      ...(p.description ? { description: p.description } : {}),
    };
  });
}

export function catalog(): Catalog {
  const methods = ALL_METHODS.map((m): MethodCatalogEntry => ({
    id: m.id,
    label: m.label,
    // Pipeline methods compress inter-stage traffic, not FSDP's, so they need a pipeline run.
    description:
      m.kind === 'pipeline' ? `${m.description} (needs pipelineStages > 1)` : m.description,
    pattern: m.pattern(),
    defaultErrorFeedback: m.defaultErrorFeedback,
    params: paramFields(m.params),
  }));
  return {
    methods,
    modelPresets: [...MODEL_PRESET_NAMES],
    linkPresets: [
      ...Object.entries(LINK_PRESETS).map(([name, l]) => ({ name, ...l })),
      { name: 'off', gbps: 0, latencyUs: 0 },
    ],
    sharding: [...SHARDING_STRATEGIES],
    backends: [...BACKENDS],
    engines: [...ENGINES],
    corpora: [...CORPORA],
    errorFeedback: ['none', 'ef', 'econtrol'],
  };
}

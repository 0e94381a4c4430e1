/** int4 blockwise quantisation (compress/blockwise-int.ts) as a gradient method. */
import { z } from 'zod';
import { blockwisePattern, createBlockwiseInt } from '../blockwise-int.js';
import { defineMethod } from '../method.js';
import { blockParam, scaleParam } from '../param-fields.js';

export const int4 = defineMethod({
  kind: 'gradient',
  id: 'int4',
  order: 40,
  label: 'int4 blockwise',
  description: 'int4 codes (two per byte) with a max-abs scale per block',
  params: z.object({ block: blockParam, scale: scaleParam }).strict(),
  defaultErrorFeedback: 'ef',
  pattern: (p) => blockwisePattern(p.scale),
  create: (p) => createBlockwiseInt('int4', { bits: 4, block: p.block, scale: p.scale }),
});

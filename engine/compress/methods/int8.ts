/** int8 blockwise quantisation (compress/blockwise-int.ts) as a gradient method. */
import { z } from 'zod';
import { blockwisePattern, createBlockwiseInt } from '../blockwise-int.js';
import { defineMethod } from '../method.js';
import { blockParam, scaleParam } from '../param-fields.js';

export const int8 = defineMethod({
  kind: 'gradient',
  id: 'int8',
  order: 30,
  label: 'int8 blockwise',
  description:
    'int8 codes with a max-abs scale per block; per-rank scales (all-to-all) or agreed scales (int32 sums)',
  params: z.object({ block: blockParam, scale: scaleParam }).strict(),
  defaultErrorFeedback: 'ef',
  pattern: (p) => blockwisePattern(p.scale),
  create: (p) => createBlockwiseInt('int8', { bits: 8, block: p.block, scale: p.scale }),
});

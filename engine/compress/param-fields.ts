/** Parameter fields several methods share, so their ranges and defaults stay the same. */
import { z } from 'zod';

export const ratioParam = (d: number) => z.number().gt(0).max(1).default(d);
export const blockParam = z.number().int().min(8).max(65536).default(256);
export const scaleParam = z.enum(['per-rank', 'agreed']).default('per-rank');
export const indexBitsParam = z.union([z.literal(1), z.literal(4)]).default(1);
export const compressRatioParam = z.number().min(1).max(64).default(2);

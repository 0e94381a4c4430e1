/**
 * What a pipeline trainer can be asked to do to its inter-stage traffic: the parameters of the
 * pipeline-kind method (methods/optimus-cc.ts), which parallel/pipeline-trainer.ts carries out.
 */
import { z } from 'zod';

const lowRank = z.number().int().min(1).max(256);

export const OptimusCcParamsSchema = z
  .object({
    /** Rank of the activation-gradient factors. */
    rank: lowRank.default(4),
    compressBackprop: z.boolean().default(true),
    lazyError: z.boolean().default(true),
    fuseEmbedding: z.boolean().default(true),
    /** Rank of the tied embedding gradient's factors in the fused synchronisation. */
    embeddingRank: lowRank.default(4),
    selective: z.boolean().default(true),
    /** Extension beyond the paper: fp32 inter-stage transfers go as int8 with per-row scales. */
    int8Transfers: z
      .boolean()
      .default(false)
      .describe(
        'extension beyond the paper: activations and the activation gradients not sent low-rank travel as int8 with one scale per row',
      ),
  })
  .strict();
export type OptimusCcOptions = z.output<typeof OptimusCcParamsSchema>;

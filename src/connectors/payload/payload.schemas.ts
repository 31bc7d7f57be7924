/**
 * The payload connector reads no CRM answers: its only input is the sender's
 * webhook. This is the part of a JSON body it looks at beyond the merged
 * parameters.
 */
import { z } from 'zod';

/** A JSON body may carry `tags` as a real array (form and query values are text). */
export const PayloadBodySchema = z.object({ tags: z.unknown().optional() }).loose();

/**
 * Ontraport's answers as the connector reads them: every `data` comes from the
 * `{code, data, account_id}` envelope (unwrapped by the client), every value
 * as text or something lenient about it.
 */
import { z } from 'zod';

/** Ontraport's object type of contacts. */
export const CONTACT_OBJECT_ID = '0';
/** Ontraport's object type of tags. */
export const TAG_OBJECT_ID = '14';

/** A contact (`GET /object`): field key → value. */
export const RecordSchema = z.record(z.string(), z.unknown());

/** One row of `GET /objects?objectID=14`. */
export const TagRowSchema = z
  .object({
    tag_id: z.coerce.string(),
    tag_name: z.coerce.string(),
    object_type_id: z.coerce.string().optional(),
  })
  .loose();

/** One page of contacts (`GET /objects?objectID=0`, `GET /objects/tag`), only their ids asked for. */
export const ContactRowsSchema = z.array(z.object({ id: z.coerce.string() }).loose());

const FieldMetaSchema = z
  .object({
    alias: z.coerce.string().optional(),
    type: z.coerce.string().optional(),
    options: z.unknown().optional(),
  })
  .loose();
export type FieldMeta = z.infer<typeof FieldMetaSchema>;

/** `GET /objects/meta?format=byId`: object type id → its fields. */
export const MetaSchema = z.record(
  z.string(),
  z.object({ fields: z.record(z.string(), FieldMetaSchema).default({}) }).loose(),
);
export type Meta = z.infer<typeof MetaSchema>;

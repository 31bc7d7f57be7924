/**
 * FunnelKit's answers (the `result` of its envelope) as the connector reads
 * them: ids as numbers or text, PHP's empty arrays where objects belong.
 */
import { z } from 'zod';

const Id = z.union([z.number(), z.string()]).transform((value) => String(value).trim());
const Scalar = z.union([z.string(), z.number(), z.boolean()]).nullish();
/** PHP encodes an empty associative array as `[]`, so objects may arrive as lists. */
const PhpMap = z
  .union([z.record(z.string(), z.unknown()), z.array(z.unknown())])
  .nullish()
  .transform((value): Record<string, unknown> => (value ? { ...value } : {}));

const TagSchema = z
  .object({ ID: Id.optional(), id: Id.optional(), name: Scalar })
  .loose()
  .transform((tag) => ({
    id: tag.ID ?? tag.id ?? '',
    label: tag.name == null ? '' : String(tag.name),
  }));

export const ContactSchema = z
  .object({
    id: Id,
    email: Scalar,
    f_name: Scalar,
    l_name: Scalar,
    contact_no: Scalar,
    state: Scalar,
    country: Scalar,
    timezone: Scalar,
    fields: PhpMap,
    tags: z.array(TagSchema).nullish(),
  })
  .loose();

/** `tags`: a list of tags. */
export const TagListSchema = z.array(TagSchema);

/** The raw value of a contact field as FunnelKit stores it (standard column or `fields` entry). */
export type RawContact = z.infer<typeof ContactSchema>;

const GroupFieldSchema = z
  .object({ id: Id.optional(), ID: Id.optional(), name: Scalar })
  .loose()
  .transform((field) => ({
    id: field.id ?? field.ID ?? '',
    label: field.name == null ? '' : String(field.name),
  }));

export const GroupFieldsSchema = z
  .object({
    fields: z.array(z.object({ fields: z.array(GroupFieldSchema).nullish() }).loose()).nullish(),
    extra_fields: z.array(GroupFieldSchema).nullish(),
  })
  .loose();

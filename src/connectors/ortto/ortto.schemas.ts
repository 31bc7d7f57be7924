/** Ortto's answers as the connector reads them; each route's body checked by parseAnswer. */
import { z } from 'zod';

const PersonSchema = z.object({
  id: z.coerce.string(),
  fields: z
    .record(z.string(), z.unknown())
    .nullish()
    .transform((fields) => fields ?? {}),
});
export type Person = z.infer<typeof PersonSchema>;

/** `person/get-by-ids`: keyed by id, though a list has been seen too. */
export const GetByIdsSchema = z.object({
  contacts: z.union([z.record(z.string(), PersonSchema), z.array(PersonSchema)]).nullish(),
});
/** `person/get`. */
export const PersonListSchema = z.object({ contacts: z.array(PersonSchema).nullish() });
/** `person/get` read page by page: where the next page starts, and whether there is one. */
export const PersonPageSchema = PersonListSchema.extend({
  next_offset: z.number().int().nonnegative().nullish(),
  has_more: z.boolean().nullish(),
});
/** `person/custom-field/get`. */
export const CustomFieldsSchema = z.object({
  fields: z
    .array(
      z.object({
        field: z.object({
          id: z.string(),
          name: z.string().nullish(),
          display_type: z.string().nullish(),
        }),
      }),
    )
    .nullish(),
});
export type CustomFields = z.infer<typeof CustomFieldsSchema>;
/** `tags/get`. */
export const TagsSchema = z.array(z.object({ name: z.coerce.string() })).nullable();
/** `person/merge`: one outcome per person sent. */
export const MergeSchema = z.object({
  people: z
    .array(z.object({ status: z.string().nullish(), error: z.string().nullish() }))
    .nullish(),
});

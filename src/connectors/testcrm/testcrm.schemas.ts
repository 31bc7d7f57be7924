/** The test CRM's answers as the connector reads them. */
import { z } from 'zod';

/** `GET /contacts/:id`. */
export const ContactSchema = z.object({
  id: z.coerce.string(),
  email: z.string().optional().nullable(),
  fields: z.record(z.string(), z.unknown()).default({}),
  tags: z.array(z.coerce.string()).default([]),
});
export type TestCrmContact = z.infer<typeof ContactSchema>;

/** `GET /contacts?email=`. */
export const ContactSearchSchema = z.array(z.object({ id: z.coerce.string(), email: z.string() }));
/** `GET /tags`. */
export const TagsSchema = z.array(z.object({ id: z.coerce.string(), label: z.string() }));
/** `GET /fields`. */
export const FieldsSchema = z.array(
  z.object({ id: z.string(), label: z.string(), type: z.string().optional() }),
);

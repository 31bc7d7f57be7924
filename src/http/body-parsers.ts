/**
 * Request body parsing with bounds: JSON nesting depth and field counts are
 * checked before anything recursive or quadratic touches a body, multipart
 * carries fields only, and a body that does not parse is described by a fixed
 * message that never quotes the input (it may hold a secret).
 */
import { Busboy } from '@fastify/busboy';
import type { IntakeRequest } from '../webhook/request.js';

/** Deeper JSON is refused before it is parsed: every walk over a body stays far from the stack limit. */
const MAX_JSON_DEPTH = 32;
/** Fields of one form or multipart body; a webhook has a few dozen at most. */
const MAX_FORM_FIELDS = 200;
/** Longest field name in a multipart body, in bytes. */
const MAX_FIELD_NAME_BYTES = 200;

export type BodyProblem = NonNullable<IntakeRequest['bodyProblem']>;
export type FormFields = Record<string, string | string[]>;

/** A body that cannot be used; `problem` is what the intake stores and answers. */
export class BodyError extends Error {
  constructor(readonly problem: BodyProblem) {
    super(problem.detail);
    this.name = 'BodyError';
  }
}

/** PostgreSQL text cannot hold NUL; a form value with one keeps a visible stand-in instead. */
const withoutNul = (text: string): string =>
  text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;

function addField(fields: FormFields, key: string, value: string): void {
  const existing = Object.hasOwn(fields, key) ? fields[key] : undefined;
  if (existing === undefined) fields[key] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else fields[key] = [existing, value];
}

const tooManyFields = () =>
  new BodyError({ code: 'BODY_TOO_LARGE', detail: `more than ${MAX_FORM_FIELDS} fields` });

/** Form bodies: repeated keys become arrays, as PHP-style senders expect. */
export function parseForm(text: string): FormFields {
  const fields: FormFields = {};
  let count = 0;
  for (const [key, value] of new URLSearchParams(text)) {
    count += 1;
    if (count > MAX_FORM_FIELDS) throw tooManyFields();
    addField(fields, withoutNul(key), withoutNul(value));
  }
  return fields;
}

/**
 * Scans JSON text without parsing it: how deep it nests (strings skipped) and
 * whether a string holds an escaped NUL. Stops as soon as the limit is passed.
 */
function scanJson(text: string): 'ok' | 'too-deep' | 'nul' {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c /* \ */) {
        if (text.startsWith('u0000', i + 1)) return 'nul';
        i += 1;
      } else if (char === 0x22 /* " */) {
        inString = false;
      }
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x7b /* { */ || char === 0x5b /* [ */) {
      depth += 1;
      if (depth > MAX_JSON_DEPTH) return 'too-deep';
    } else if (char === 0x7d /* } */ || char === 0x5d /* ] */) {
      depth -= 1;
    }
  }
  return 'ok';
}

/** JSON bodies: empty is `{}`; too deep, NUL-holding or unparsable ones throw a BodyError. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return {};
  const scan = scanJson(text);
  if (scan === 'too-deep') {
    throw new BodyError({
      code: 'BODY_TOO_DEEP',
      detail: `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`,
    });
  }
  if (scan === 'nul')
    throw new BodyError({
      code: 'MALFORMED_BODY',
      detail: 'the JSON body holds a NUL character (\\u0000)',
    });
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // V8's message quotes the body around the fault; only the position is kept.
    const position = error instanceof Error ? /position (\d+)/.exec(error.message)?.[1] : undefined;
    const detail = `the JSON body does not parse${position === undefined ? '' : ` (at position ${position})`}`;
    throw new BodyError({ code: 'MALFORMED_BODY', detail });
  }
}

/**
 * Bodies of other types (webhook routes only): JSON when they look like it,
 * since some senders label JSON `text/plain`; anything else is not read.
 */
export function parseLooseBody(text: string): unknown {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return parseJsonBody(text);
  return {};
}

/** Multipart bodies, already read whole (so the body limit applies): fields only, no files. */
export function parseMultipart(
  body: Buffer,
  contentType: string,
  maxFieldBytes: number,
): Promise<FormFields> {
  return new Promise((resolve, reject) => {
    const malformed = () =>
      new BodyError({
        code: 'MALFORMED_BODY',
        detail: 'the multipart body is incomplete or malformed',
      });
    let parser: ReturnType<typeof Busboy>;
    try {
      parser = Busboy({
        headers: { 'content-type': contentType },
        limits: {
          fields: MAX_FORM_FIELDS,
          parts: MAX_FORM_FIELDS,
          files: 0,
          fileSize: 0,
          fieldSize: maxFieldBytes,
          fieldNameSize: MAX_FIELD_NAME_BYTES,
        },
      });
    } catch {
      reject(malformed());
      return;
    }
    const fields: FormFields = {};
    let problem: BodyError | undefined;
    let settled = false;
    const fail = (error: BodyError) => {
      problem ??= error;
    };
    const noFiles = () =>
      fail(
        new BodyError({
          code: 'UNSUPPORTED_MEDIA_TYPE',
          detail: 'a webhook carries no file uploads',
        }),
      );
    parser.on(
      'field',
      (name: string, value: string, nameTruncated: boolean, valueTruncated: boolean) => {
        if (nameTruncated)
          fail(
            new BodyError({
              code: 'BODY_TOO_LARGE',
              detail: `a field name is longer than ${MAX_FIELD_NAME_BYTES} bytes`,
            }),
          );
        else if (valueTruncated)
          fail(new BodyError({ code: 'BODY_TOO_LARGE', detail: 'a field is too large' }));
        else addField(fields, withoutNul(name), withoutNul(value));
      },
    );
    parser.on('file', (_name: string, stream: NodeJS.ReadableStream) => {
      stream.resume();
      noFiles();
    });
    parser.on('filesLimit', noFiles);
    parser.on('fieldsLimit', () => fail(tooManyFields()));
    parser.on('partsLimit', () => fail(tooManyFields()));
    parser.on('error', () => {
      if (settled) return;
      settled = true;
      reject(problem ?? malformed());
    });
    parser.on('finish', () => {
      if (settled) return;
      settled = true;
      if (problem) reject(problem);
      else resolve(fields);
    });
    parser.end(body);
  });
}

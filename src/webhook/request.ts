/** A webhook request as the intake sees it, independent of the HTTP framework. */
import type { ErrorCode } from '../errors.js';

export interface IntakeRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  /** The connection named in the path (`/webhooks/<id>`), if any. */
  connectionId?: string | undefined;
  query: unknown;
  /** Parsed body: an object for form, multipart and JSON bodies. */
  body: unknown;
  rawBody: string | undefined;
  contentType: string | undefined;
  accessKeyHeader: string | undefined;
  ip: string;
  /** Set when the body could not be read. */
  bodyProblem?:
    | {
        code: Extract<
          ErrorCode,
          'MALFORMED_BODY' | 'BODY_TOO_DEEP' | 'BODY_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE'
        >;
        detail: string;
      }
    | undefined;
}

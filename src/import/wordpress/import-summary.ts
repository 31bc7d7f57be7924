/** What `crm-bridge import wordpress` takes and what it reports. */
import type { Kysely } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Sealer } from '../../lib/seal.js';
import type { DB } from '../../storage/schema.js';

export interface ImportOptions {
  /** mysql://user:password@host:3306/database */
  readonly from: string;
  readonly prefix: string;
  readonly connectionId?: string | undefined;
  readonly dryRun: boolean;
}

export interface ImportDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly sealer: Sealer;
  readonly settingOverrides: Readonly<Record<string, string>>;
  /** Called as users are done. */
  readonly onProgress?: ((progress: ImportProgress) => void) | undefined;
}

interface ImportProgress {
  done: number;
  total: number;
  errors: number;
}

export interface ImportSummary {
  source: string;
  dryRun: boolean;
  connection: { id: string; type: string } | null;
  total: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Skipped users by reason. */
  skipped: Record<string, number>;
  errors: Array<{ wordpressId: string; message: string }>;
  passwordsCarried: number;
  contactsLinked: number;
  tagsAdded: number;
  tagLabelsSaved: number;
  rolesCreated: string[];
  /** Settings and connection settings changed, as `name=value`. */
  settingsChanged: string[];
  accessKey: 'imported' | 'unchanged' | 'none';
  /** Per-user notices, with the user's WordPress ID and login. */
  notices: string[];
  warnings: string[];
}

export function emptySummary(
  source: string,
  dryRun: boolean,
  connection: { id: string; type: string } | null,
  total: number,
): ImportSummary {
  return {
    source,
    dryRun,
    connection,
    total,
    created: 0,
    updated: 0,
    unchanged: 0,
    skipped: {},
    errors: [],
    passwordsCarried: 0,
    contactsLinked: 0,
    tagsAdded: 0,
    tagLabelsSaved: 0,
    rolesCreated: [],
    settingsChanged: [],
    accessKey: 'none',
    notices: [],
    warnings: [],
  };
}

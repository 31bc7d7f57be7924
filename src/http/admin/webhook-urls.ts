/**
 * The ready-made webhook addresses of a connection, for every action, written
 * the way its CRM takes them: a URL with the contact id's merge field
 * (Ontraport, payload senders), a URL alone (the contact comes in the JSON
 * body: Ortto, Customerly), or one data row per parameter (FunnelKit).
 */
import type { WebhookSetup } from '../../connectors/types.js';

export interface ReadyWebhook {
  /** What the webhook does, in words. */
  label: string;
  /** The URL to enter (with `style: 'rows'`, the base URL). */
  url: string;
  /** With `style: 'rows'`: the data rows, `name = value`. */
  rows?: string[] | undefined;
}

const ACCESS_KEY_PLACEHOLDER = 'YOUR_ACCESS_KEY';

/** `key` undefined shows the placeholder (the key is hidden until revealed). */
export function readyWebhooks(
  baseUrl: string,
  setup: WebhookSetup,
  key: string | undefined,
  role: string,
): ReadyWebhook[] {
  const actions: Array<[string, Array<[string, string]>]> = [
    ["Replace a user's tags with the contact's (update_tags)", [['wpf_action', 'update_tags']]],
    ['Update tags and profile fields (update)', [['wpf_action', 'update']]],
    ['Create a user, or update the existing one (add)', [['wpf_action', 'add']]],
    [
      '… and e-mail them a link to set a password',
      [
        ['wpf_action', 'add'],
        ['send_notification', 'true'],
      ],
    ],
    [
      `… with the role "${role}"`,
      [
        ['wpf_action', 'add'],
        ['role', role],
      ],
    ],
  ];
  const accessKey = key ?? ACCESS_KEY_PLACEHOLDER;
  return actions.map(([label, params]) => {
    const all: Array<[string, string]> = [
      params[0] ?? ['wpf_action', 'test'],
      ['access_key', accessKey],
      ...(setup.contactIdMergeField
        ? [['contact_id', setup.contactIdMergeField] as [string, string]]
        : []),
      ...params.slice(1),
    ];
    if (setup.style === 'rows')
      return { label, url: baseUrl, rows: all.map(([name, value]) => `${name} = ${value}`) };
    // Merge fields stay as the CRM writes them ([Contact ID], {{contact_id}}): the CRM fills them in.
    const query = all.map(
      ([name, value]) =>
        `${name}=${value === setup.contactIdMergeField ? value : encodeURIComponent(value)}`,
    );
    return { label, url: `${baseUrl}?${query.join('&')}` };
  });
}

/**
 * `wpf_action` as WP Fusion reads it: case-insensitive (`ADD`, `Update_Tags`),
 * and the names of its own handlers accepted too: `update_user` does what
 * `update` does and `add_user` what `add` does (WP Fusion dispatches
 * `wpf_<action>` to the handlers `update_user` and `add_user`).
 */
const ALIASES: Readonly<Record<string, string>> = { update_user: 'update', add_user: 'add' };

/** The action a `wpf_action` value names, lower-cased and unaliased; '' for none. */
export function canonicalAction(value: string | undefined): string {
  const name = (value ?? '').trim().toLowerCase();
  return Object.hasOwn(ALIASES, name) ? (ALIASES[name] ?? name) : name;
}

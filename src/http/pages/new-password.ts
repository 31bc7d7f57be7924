/** The "new password, twice" part shared by the set-password and change-password forms. */
import { checkPassword } from '../../accounts/password-policy.js';
import type { Settings } from '../../settings/settings.js';
import type { UserRow } from '../../storage/schema.js';
import type { FieldErrors, FieldSpec } from './layout.js';

type PolicySettings = Pick<Settings, 'password_min_length' | 'site_name'>;

/** Problems with the chosen password, by field; empty when it may be used. */
export function newPasswordErrors(
  input: { password: string; confirm: string },
  user: UserRow,
  settings: PolicySettings,
): FieldErrors {
  if (input.password === '') return { password: ['Enter a new password.'] };
  const errors: FieldErrors = {};
  const check = checkPassword(input.password, {
    minLength: settings.password_min_length,
    userInputs: [user.login, user.email, user.first_name, user.last_name, settings.site_name],
  });
  if (!check.ok) errors.password = check.problems;
  if (input.confirm !== input.password) errors.confirm = ['The two passwords do not match.'];
  return errors;
}

export function hasErrors(errors: FieldErrors): boolean {
  return Object.values(errors).some((messages) => messages !== undefined && messages.length > 0);
}

export function newPasswordFields(settings: PolicySettings, errors: FieldErrors): FieldSpec[] {
  return [
    {
      name: 'password',
      label: 'New password',
      type: 'password',
      autocomplete: 'new-password',
      hint: `At least ${settings.password_min_length} characters. A few unrelated words make a strong password that is easy to remember.`,
      errors: errors.password,
    },
    {
      name: 'confirm',
      label: 'New password again',
      type: 'password',
      autocomplete: 'new-password',
      errors: errors.confirm,
    },
  ];
}

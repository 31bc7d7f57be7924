/**
 * E-mail templates: plain text with `{placeholder}`s, editable as settings.
 * Rendering is pure; values are HTML-escaped where they go into HTML.
 */
import { escapeHtml } from '../lib/html.js';
import {
  PLACEHOLDER,
  type TemplatePlaceholder,
  type TemplateValues,
} from '../settings/template-defaults.js';

/** Fills the placeholders; `html` escapes every value (templates themselves are trusted HTML). */
export function renderTemplate(
  template: string,
  values: TemplateValues,
  options: { html: boolean },
): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    if (!Object.hasOwn(values, name)) return whole;
    const value = values[name as TemplatePlaceholder];
    return options.html ? escapeHtml(value) : value;
  });
}

/** A subject is one line: any line break a value brings in becomes a space. */
export function renderSubject(template: string, values: TemplateValues): string {
  return renderTemplate(template, values, { html: false })
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .trim();
}

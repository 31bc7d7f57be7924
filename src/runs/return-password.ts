/** A generated password written back to the connection's Return Password field of the contact. */
import type { Connection } from '../connections/registry.js';

export async function returnPassword(
  connection: Connection,
  contactId: string,
  password: string,
): Promise<{ outcome: 'written' | 'failed'; notices: string[] }> {
  const field = connection.returnPasswordField;
  if (!field) return { outcome: 'failed', notices: [] };
  try {
    await connection.connector.updateContact(contactId, { [field]: password });
    return { outcome: 'written', notices: [`Generated password written to CRM field ${field}`] };
  } catch (error) {
    return {
      outcome: 'failed',
      notices: [
        `Could not write the generated password to CRM field ${field}: ${error instanceof Error ? error.message : String(error)}`,
      ],
    };
  }
}

/**
 * The registry of connectors; the list of CRM types is derived from it.
 */
import { customerlyConnector } from './customerly/index.js';
import { funnelkitConnector } from './funnelkit/index.js';
import { ontraportConnector } from './ontraport/index.js';
import { orttoConnector } from './ortto/index.js';
import { payloadConnector } from './payload/index.js';
import { testCrmConnector } from './testcrm/index.js';
import type { ConnectorDefinition } from './types.js';

/** Each entry already `satisfies ConnectorDefinition` with its own settings type. */
export const CONNECTORS = {
  customerly: customerlyConnector,
  funnelkit: funnelkitConnector,
  ontraport: ontraportConnector,
  ortto: orttoConnector,
  payload: payloadConnector,
  testcrm: testCrmConnector,
} as const;

export type ConnectorType = keyof typeof CONNECTORS;
export const CONNECTOR_TYPES = Object.keys(CONNECTORS) as ConnectorType[];

export function isConnectorType(value: string): value is ConnectorType {
  return Object.hasOwn(CONNECTORS, value);
}

export function connectorDefinition(type: string): ConnectorDefinition | undefined {
  return isConnectorType(type) ? (CONNECTORS[type] as unknown as ConnectorDefinition) : undefined;
}

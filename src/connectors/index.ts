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

/** Each entry `satisfies ConnectorDefinition` with its own settings type; the map checks they all fit the contract. */
const CONNECTORS = {
  customerly: customerlyConnector,
  funnelkit: funnelkitConnector,
  ontraport: ontraportConnector,
  ortto: orttoConnector,
  payload: payloadConnector,
  testcrm: testCrmConnector,
} as const satisfies Readonly<Record<string, ConnectorDefinition>>;

export type ConnectorType = keyof typeof CONNECTORS;
/** The CRM types in the order of the map. */
export const CONNECTOR_TYPES: readonly ConnectorType[] = Object.freeze(
  Object.keys(CONNECTORS).filter((key): key is ConnectorType => isConnectorType(key)),
);

function isConnectorType(value: string): value is ConnectorType {
  return Object.hasOwn(CONNECTORS, value);
}

export function connectorDefinition(type: string): ConnectorDefinition | undefined {
  if (!isConnectorType(type)) return undefined;
  const definition: ConnectorDefinition = CONNECTORS[type];
  return definition;
}

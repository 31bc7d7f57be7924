/** `crm-bridge api-tokens create|list|revoke`: tokens for the REST API. */
import type { Command } from 'commander';
import type { Config } from '../config.js';
import type { Database } from '../storage/database.js';
import type { CliIo } from './main.js';

export interface ApiTokenCommandDeps {
  io: CliIo;
  withDb: <T>(command: Command, work: (database: Database, config: Config) => Promise<T>) => Promise<T>;
  print: (value: unknown, json: boolean | undefined, text: () => string) => void;
}

export function registerApiTokenCommands(program: Command, deps: ApiTokenCommandDeps): void {
  void program;
  void deps;
}

/** Programmatic API, for embedding the relay or its pieces. The CLI (src/cli.ts) is built from these. */
export { loadConfig, SETTINGS, type Config, type RunConfig, type MigrateConfig } from './config.js';
export { ExitCode, RelayExit, ConfigError, UnavailableError, SchemaAheadError } from './errors.js';
export { createLogger } from './log.js';
export { migrate, checkSchema, loadMigrations } from './migrate.js';
export { outboxNames } from './names.js';
export { Relay, type RelayHooks } from './relay/relay.js';
export { transition, type RelayState, type RelayEvent } from './relay/state.js';

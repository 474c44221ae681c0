#!/usr/bin/env node
// Regenerates every operator-facing list from its one definition (via dist/, see src/config-docs.ts):
// the settings, exit-code and metrics tables in README.md and config/outbox-relay.env.example.
// `npm run docs:config` runs it with --write; without --write it prints what it would write.
import { readFileSync, writeFileSync } from 'node:fs';
import { ENV_EXAMPLE_PATH, renderEnvExample, updateReadme } from '../dist/config-docs.js';

const readme = new URL('../README.md', import.meta.url);
const envExample = new URL(`../${ENV_EXAMPLE_PATH}`, import.meta.url);
const updated = updateReadme(readFileSync(readme, 'utf8'));
if (process.argv.includes('--write')) {
  writeFileSync(readme, updated);
  writeFileSync(envExample, renderEnvExample());
  console.log(`README.md (settings, exit codes, metrics) and ${ENV_EXAMPLE_PATH} updated`);
} else {
  process.stdout.write(`${updated}\n----- ${ENV_EXAMPLE_PATH}\n${renderEnvExample()}`);
}

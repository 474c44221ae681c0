#!/usr/bin/env node
// Regenerates the settings table in README.md from src/config.ts (via dist/). --write to update the file.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderSettingsTable, updateReadme } from '../dist/config-docs.js';

const path = new URL('../README.md', import.meta.url);
if (process.argv.includes('--write')) {
  writeFileSync(path, updateReadme(readFileSync(path, 'utf8')));
  console.log('README.md settings table updated');
} else {
  console.log(renderSettingsTable());
}

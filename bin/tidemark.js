#!/usr/bin/env node
// In a source checkout the TypeScript runs directly (Node.js 24 strips types);
// an installed package or container image carries only the compiled dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relaunch } from './relaunch.js';

const major = Number(process.versions.node.split('.')[0]);
const bundledNode = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
if (major < 24 && existsSync(bundledNode)) {
  // Started by an older system Node: hand over to the project's own Node.js 24.
  relaunch(bundledNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
} else {
  const fromSource = new URL('../src/cli/main.ts', import.meta.url);
  const entry = existsSync(fromSource) ? fromSource : new URL('../dist/cli/main.js', import.meta.url);
  const { main } = await import(entry.href);
  process.exitCode = await main(process.argv.slice(2));
}

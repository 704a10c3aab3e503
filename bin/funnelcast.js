#!/usr/bin/env node
// Entry point of the `funnelcast` command: runs the compiled CLI (client.ts → dist/client.js).
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const compiled = join(__dirname, '..', 'dist', 'client.js');
if (!existsSync(compiled)) {
  console.error('funnelcast is not built yet: run `npm install` (or `npm run build`) in ' + join(__dirname, '..'));
  process.exit(1);
}
require(compiled);

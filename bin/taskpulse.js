#!/usr/bin/env node
// The `taskpulse` command: runs the built CLI (`npm run build` writes dist/).
await import('../dist/src/cli/main.js');

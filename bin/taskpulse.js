#!/usr/bin/env node
// The `taskpulse` command: runs the built CLI bundle (`npm run build` writes dist/cli/).
await import('../dist/cli/main.js');

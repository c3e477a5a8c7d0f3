#!/usr/bin/env node
// The `taskpulse` command: registers tsx's ESM loader so the TypeScript sources run as they are.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');

// Preloaded (--import) by test/package/consumer.test.ts: the CLI sees stderr as a terminal, so it
// reaches for pino-pretty, as it would in a user's shell.
Object.defineProperty(process.stderr, 'isTTY', { value: true });

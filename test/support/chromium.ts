/** Debian's Chromium driven by playwright-core (never `playwright install`), for the browser tests and bench:ui. */
import { type Browser, chromium } from 'playwright-core';

/** `CHROMIUM_PATH`, or where `apt-get install chromium` puts it. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless, with the flags that work as root on this machine kind (shared/spec/toolchain.md);
 * playwright gives each launch a fresh profile directory of its own and removes it on close.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

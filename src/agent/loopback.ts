import { isIP } from 'node:net';

/** Whether `host` (a name or an address, IPv6 without brackets) is this machine's loopback. */
export function isLoopback(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === 'localhost') return true;
  if (isIP(lower) === 4) return lower.startsWith('127.');
  if (isIP(lower) === 6) return lower === '::1' || /^::ffff:127\./.test(lower);
  return false;
}

/** The name or address a `Host` header names (`[::1]:4646` → `::1`), or undefined if it is garbled. */
export function hostnameOf(host: string): string | undefined {
  try {
    const { hostname } = new URL(`http://${host}`);
    return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  } catch {
    return undefined;
  }
}

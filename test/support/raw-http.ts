/** Raw HTTP over a socket, for what node:http and fetch would not send (no Host, CONNECT, silence). */
import { connect } from 'node:net';

/** Sends `text` (then half-closes, unless `end: false`); resolves with all the server sent once it closed. */
export function raw(port: number, text: string, { end = true } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      if (end) socket.end(text);
      else socket.write(text);
    });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

export const statusOf = (response: string) => Number(response.match(/^HTTP\/1\.1 (\d{3})/)?.[1]);
export const jsonOf = (response: string) =>
  JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as unknown;

import { connect } from 'node:net';

/**
 * An ssh master connection as seen from its control socket, without starting ssh:
 * `watch --keep-warm` asks every kept host's master each round.
 */

/** A master's hello on its control socket (PROTOCOL.mux): length 8, MUX_MSG_HELLO (1), version 4. */
const MUX_HELLO = Buffer.from('000000080000000100000004', 'hex');

/**
 * Whether an ssh master serves this control socket: it sends its hello as soon as a
 * client connects. A socket file left by a killed master refuses the connection; a
 * master that is alive but stuck does not answer within `timeoutMs`.
 */
export function masterAnswers(socket: string, timeoutMs = 10_000): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = connect(socket);
    let got = Buffer.alloc(0);
    const done = (up: boolean) => {
      clearTimeout(timer);
      conn.destroy();
      resolve(up);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    conn.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= MUX_HELLO.length) done(got.subarray(0, MUX_HELLO.length).equals(MUX_HELLO));
    });
    conn.on('error', () => done(false));
    conn.on('close', () => done(false));
  });
}

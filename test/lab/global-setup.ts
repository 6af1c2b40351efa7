import { existsSync } from 'node:fs';
import { removeStaleLabUsers } from './lab.js';

/** Fails fast, with the fix, when the machine lacks what the real-sshd tests need. */
export default function setup(): void {
  const missing = ['/usr/sbin/sshd', '/usr/bin/ssh', '/usr/bin/rsync', '/usr/bin/ssh-keygen'].filter(
    (p) => !existsSync(p),
  );
  if (missing.length > 0) {
    throw new Error(
      `missing ${missing.join(', ')}: run npm run setup:test (apt-get install -y openssh-server openssh-client rsync)`,
    );
  }
  if (!existsSync('dist/till.mjs'))
    throw new Error('dist/till.mjs is missing: run npm run build (npm test does it first)');
  if (process.getuid?.() === 0) removeStaleLabUsers();
}

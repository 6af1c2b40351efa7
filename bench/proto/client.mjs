import { connect } from 'node:net';
const [sock, cmd, ...hosts] = process.argv.slice(2);
const c = connect(sock);
c.write(JSON.stringify({ hosts, cmd }) + '\n');
let b = '';
c.on('data', (d) => (b += d));
c.on('end', () => {
  const r = JSON.parse(b); let bad = 0;
  for (const x of r) { process.stdout.write(Buffer.from(x.stdout, 'base64')); if (x.code) bad++; }
  console.log(`${r.length} hosts, ${bad} failed`);
});

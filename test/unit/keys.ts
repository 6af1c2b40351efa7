/** Test helpers: well-formed public key blobs (the gate checks a blob's wire format). */

/** An ssh-ed25519 public key blob, distinct per `seed`. */
export function ed25519Blob(seed: number): string {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const key = Buffer.alloc(32, seed & 0xff);
  key.writeUInt32BE(seed >>> 0);
  return Buffer.concat([u32(11), Buffer.from('ssh-ed25519'), u32(32), key]).toString('base64');
}

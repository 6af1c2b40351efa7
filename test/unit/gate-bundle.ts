import { build } from 'esbuild';

/**
 * What `till gate` is made of: esbuild's bundle of src/gate/main.ts, the gate's entry (the
 * CLI hands `till gate` to it before loading anything else), with its metafile.
 */
export async function bundleGate() {
  const result = await build({
    entryPoints: ['src/gate/main.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return { text: result.outputFiles[0]!.text, inputs: Object.keys(result.metafile.inputs).sort() };
}

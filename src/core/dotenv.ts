/**
 * `.env.local`, the file that names a Tekton installation: one reader of its values
 * (dotenv style: `export`, quotes, trailing comments), used by `installation add` and
 * by `host deploy` alike, and the writer of the host's copy.
 */

/** The value of `key` in a dotenv text (the first assignment), or undefined when unset or empty. */
export function dotenvValue(text: string, key: string): string | undefined {
  for (const raw of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(raw);
    if (!m || m[1] !== key) continue;
    let value = m[2]!.trim();
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2]!;
    else value = value.replace(/\s+#.*$/, '').trim();
    return value === '' ? undefined : value;
  }
  return undefined;
}

export const REGISTRY_KEY = 'TEKTON_REGISTRY_NAME';

/** `TEKTON_REGISTRY_NAME=<name>` from a .env.local text, if set (`"my app"` is `my app`, not a usable name). */
export function registryNameOf(envText: string | undefined): string | undefined {
  return envText === undefined ? undefined : dotenvValue(envText, REGISTRY_KEY);
}

/** The host's `.env.local`: the source's values, with TEKTON_ROOT set to the remote path. */
export function renderEnvLocal(sourceEnv: string | undefined, tektonRoot: string): string {
  const lines = (sourceEnv ?? '').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let found = false;
  const out = lines.map((line) => {
    if (/^\s*(export\s+)?TEKTON_ROOT\s*=/.test(line)) {
      found = true;
      return `TEKTON_ROOT=${tektonRoot}`;
    }
    return line;
  });
  if (!found) out.push(`TEKTON_ROOT=${tektonRoot}`);
  return `${out.join('\n')}\n`;
}

/**
 * The host's `.env.local` as renderEnvLocal writes it, split around TEKTON_ROOT's value
 * (the remote path, which only the host knows when it starts with `~/`): the text
 * before it and after it; undefined when the source's text could not be split so.
 */
export function envLocalAround(sourceEnv: string | undefined): [string, string] | undefined {
  const parts = renderEnvLocal(sourceEnv, '\u0001').split('\u0001');
  return parts.length === 2 ? [parts[0]!, parts[1]!] : undefined;
}

/**
 * What the operations journal keeps of a command line (docs/operations.md, "Nothing
 * secret"). till's own options take no secrets; what can carry one is text that goes on
 * to a program: the command after `--` of `host exec` / `host ssh`, a deploy's
 * `--check`. The rule is applied to every word, in every position, the same way:
 *
 *   NAME=value      where NAME names a secret      NAME=***        (PGPASSWORD=…, API_KEY=…)
 *   --NAME=value    where NAME names a secret      --NAME=***      (--password=…)
 *   --NAME value    where NAME names a secret      --NAME ***      (--token …, also inside a shell line)
 *   scheme://user:password@                        scheme://user:***@
 *   Authorization: <anything to the end of the word or line>      Authorization: ***
 *
 * A name names a secret when it contains one of SECRET_WORDS (case-insensitive), so
 * AWS_SECRET_ACCESS_KEY, DB_PASS, GITHUB_TOKEN and --api-key all qualify. till cannot
 * recognise every secret (a password passed as a bare argument looks like any word):
 * keep secrets out of command lines, as out of shell history.
 */
export const MASK = '***';

const SECRET_WORDS = [
  'pass',
  'pwd',
  'secret',
  'token',
  'apikey',
  'api_key',
  'api-key',
  'access_key',
  'access-key',
  'private_key',
  'private-key',
  'credential',
  'auth',
  'session',
  'cookie',
  'signature',
];

export function isSecretName(name: string): boolean {
  const n = name.toLowerCase();
  return SECRET_WORDS.some((w) => n.includes(w));
}

// NAME=value, with an optional leading `--`/`-`; the value runs to whitespace (a quoted value to its quote).
const ASSIGNMENT = /(^|[\s;&|('"`])(--?)?([A-Za-z_][A-Za-z0-9_.-]*)=("[^"]*"?|'[^']*'?|[^\s'"]*)/g;
// `--token value` inside one word (a shell line): the option, whitespace, then the value.
const OPTION_VALUE = /(^|[\s;&|('"`])(--?[A-Za-z][A-Za-z0-9_-]*)(\s+)("[^"]*"?|'[^']*'?|[^\s'"-][^\s'"]*)/g;
// From `://` on (a scheme before it would make every position a start: quadratic on a long word).
const URL_PASSWORD = /(:\/\/[^\s:/@]*):[^\s@/]*@/g;
const AUTH_HEADER = /(authorization:)[^\n'"]*/gi;

/** One word with its secrets masked (the rules above). */
export function maskSecrets(word: string): string {
  return word
    .replace(URL_PASSWORD, (_m, head: string) => `${head}:${MASK}@`)
    .replace(AUTH_HEADER, (_m, head: string) => `${head} ${MASK}`)
    .replace(ASSIGNMENT, (m, lead: string, dashes: string | undefined, name: string) =>
      isSecretName(name) ? `${lead}${dashes ?? ''}${name}=${MASK}` : m,
    )
    .replace(OPTION_VALUE, (m, lead: string, option: string, space: string, value: string) =>
      isSecretName(option.replace(/^-+/, '')) && value !== MASK ? `${lead}${option}${space}${MASK}` : m,
    );
}

/** A whole argv: every word masked, and the word after a secret-named option (`--password x`) too. */
export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  let maskNext = false;
  for (const word of argv) {
    if (maskNext && !word.startsWith('-')) {
      out.push(MASK);
      maskNext = false;
      continue;
    }
    maskNext = false;
    const masked = maskSecrets(word);
    out.push(masked);
    const option = /^--?([A-Za-z][A-Za-z0-9_-]*)$/.exec(word);
    if (option && isSecretName(option[1]!)) maskNext = true;
  }
  return out;
}

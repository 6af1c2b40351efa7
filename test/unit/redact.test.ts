/** What the operations journal keeps of a command line: the rule of src/core/redact.ts. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSecretName, maskSecrets, MASK, redactArgv } from '../../src/core/redact.js';

describe('redactArgv', () => {
  it.each([
    [
      ['host', 'exec', 'web-*', '--', 'PGPASSWORD=hunter2', 'psql'],
      ['host', 'exec', 'web-*', '--', 'PGPASSWORD=***', 'psql'],
    ],
    [
      ['--', 'mysql', '--password', 'hunter2', '-e', 'select 1'],
      ['--', 'mysql', '--password', '***', '-e', 'select 1'],
    ],
    [
      ['--', 'mysql', '--password=hunter2'],
      ['--', 'mysql', '--password=***'],
    ],
    [
      ['--', 'AWS_SECRET_ACCESS_KEY=abc AWS_REGION=eu-west-1 aws s3 ls'],
      ['--', 'AWS_SECRET_ACCESS_KEY=*** AWS_REGION=eu-west-1 aws s3 ls'],
    ],
    [
      ['--', 'export GITHUB_TOKEN="a b c"; gh api'],
      ['--', 'export GITHUB_TOKEN=***; gh api'],
    ],
    [
      ['--', "curl -H 'Authorization: Bearer xyz' https://x"],
      ['--', "curl -H 'Authorization: ***' https://x"],
    ],
    [
      ['--', 'git clone https://me:s3cret@git.example.com/r.git'],
      ['--', 'git clone https://me:***@git.example.com/r.git'],
    ],
    [
      ['--check', 'curl -fsS --user-token abc http://localhost/health'],
      ['--check', 'curl -fsS --user-token *** http://localhost/health'],
    ],
    [
      ['--', 'deploy-tool', '--api-key', 'k', '--verbose'],
      ['--', 'deploy-tool', '--api-key', '***', '--verbose'],
    ],
  ])('%j', (argv, expected) => {
    expect(redactArgv(argv)).toEqual(expected);
  });

  it("leaves till's own words and ordinary commands exactly as typed", () => {
    const argv = ['host', 'deploy', 'web-*', '--source', '/srv/app', '--check', 'systemctl is-active app', '-p', '4'];
    expect(redactArgv(argv)).toEqual(argv);
    expect(redactArgv(['--', 'printf', '%s\\n', 'a b', '$HOME', 'X=1'])).toEqual([
      '--',
      'printf',
      '%s\\n',
      'a b',
      '$HOME',
      'X=1',
    ]);
  });

  it('a secret-named option followed by another option masks nothing', () => {
    expect(redactArgv(['--', 'tool', '--no-password', '--yes'])).toEqual(['--', 'tool', '--no-password', '--yes']);
  });

  it('names that carry a secret', () => {
    for (const n of ['PGPASSWORD', 'DB_PASS', 'api_key', 'X-Auth', 'SESSION_ID', 'client_secret', 'NPM_TOKEN'])
      expect(isSecretName(n), n).toBe(true);
    for (const n of ['PATH', 'HOME', 'LANG', 'REGION', 'port']) expect(isSecretName(n), n).toBe(false);
  });

  it('property: the value given to a secret-named variable or option never survives, in any position', () => {
    const secretName = fc
      .tuple(
        fc.constantFrom('', 'DB_', 'MY_', 'x'),
        fc.constantFrom('PASSWORD', 'TOKEN', 'SECRET', 'API_KEY', 'passwd', 'Auth'),
        fc.constantFrom('', '_FILE', '2'),
      )
      .map((p) => p.join(''));
    const value = fc.stringMatching(/^[A-Za-z0-9+/_.:@%-]{6,24}$/).filter((v) => !v.startsWith('-'));
    const word = fc.stringMatching(/^[a-z]{1,8}$/);
    fc.assert(
      fc.property(
        secretName,
        value,
        fc.array(word, { maxLength: 4 }),
        fc.array(word, { maxLength: 4 }),
        (name, v, pre, post) => {
          const asAssignment = redactArgv(['--', ...pre, `${name}=${v}`, ...post]);
          const asLine = redactArgv(['--', [...pre, `${name}=${v}`, ...post].join(' ')]);
          const asOption = redactArgv(['--', ...pre, `--${name.toLowerCase()}`, v, ...post]);
          const asInlineOption = redactArgv(['--', [...pre, `--${name.toLowerCase()} ${v}`, ...post].join(' ')]);
          for (const out of [asAssignment, asLine, asOption, asInlineOption]) {
            expect(out.join(' ')).not.toContain(v);
            expect(out.join(' ')).toContain(MASK);
          }
        },
      ),
    );
  });

  it('maskSecrets is idempotent', () => {
    const once = maskSecrets('PGPASSWORD=x psql https://a:b@c --token t');
    expect(maskSecrets(once)).toBe(once);
  });
});

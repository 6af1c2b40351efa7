/**
 * `host import` of an Ansible inventory must connect where Ansible itself would: the
 * address, port and user of every host are compared with what the real `ansible -vvv`
 * says it connects to (its "ESTABLISH SSH CONNECTION FOR USER" and "SSH: EXEC ssh … -o
 * Port=N … <address>" lines). Every host points at a closed port on a loopback address,
 * so each attempt ends at once with "connection refused" and nothing is contacted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAnsible } from '../../src/core/import/ansible.js';

const dir = mkdtempSync('/tmp/t-ans-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** address → "user port" as Ansible connects (user "None" and port "-" when it sets none). */
function ansibleSays(file: string): Record<string, string> {
  const r = spawnSync('ansible', ['all', '-i', file, '-m', 'raw', '-a', 'true', '-vvv', '-f', '10'], {
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      ANSIBLE_SSH_CONTROL_PATH_DIR: join(dir, 'cp'),
      ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'),
      ANSIBLE_NOCOLOR: '1',
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const out: Record<string, { user?: string; port?: string }> = {};
  for (const line of r.stdout.split('\n')) {
    const user = /^<([^>]+)> ESTABLISH SSH CONNECTION FOR USER: (\S+)/.exec(line);
    if (user) (out[user[1]!] ??= {}).user = user[2]!;
    const exec = /^<([^>]+)> SSH: EXEC ssh /.exec(line);
    if (exec) (out[exec[1]!] ??= {}).port = /-o Port=(\d+)/.exec(line)?.[1] ?? '-';
  }
  expect(Object.keys(out).length, `ansible said:\n${r.stdout}\n${r.stderr}`).toBeGreaterThan(0);
  return Object.fromEntries(Object.entries(out).map(([a, v]) => [a, `${v.user} ${v.port}`]));
}

/** The same, as till imports the inventory. */
function tillSays(file: string, text: string): Record<string, string> {
  const inv = parseAnsible({ path: file, text });
  return Object.fromEntries(inv.hosts.map((h) => [h.address, `${h.user ?? 'None'} ${h.port ?? '-'}`]));
}

const CASES: Record<string, string> = {
  'legacy.ini': [
    '[web]',
    'w1 ansible_user=own ansible_port=2 ansible_host=127.0.0.71',
    'w2 ansible_ssh_user=legacy ansible_host=127.0.0.72',
    'w3 ansible_host=127.0.0.73',
    '[web:vars]',
    'ansible_ssh_user=groupssh',
    'ansible_port=3',
    '[db]',
    'd1 ansible_ssh_host=127.0.0.74 ansible_host=127.0.0.99 ansible_user=dbu',
    '[db:vars]',
    'ansible_ssh_port=4',
    '[all:vars]',
    'ansible_user=everyone',
    '',
  ].join('\n'),
  'nested.yml': [
    'all:',
    '  vars:',
    '    ansible_ssh_user: top',
    '  children:',
    '    web:',
    '      vars:',
    '        ansible_user: group',
    '        ansible_port: 5',
    '      hosts:',
    '        y1:',
    '          ansible_ssh_port: 6',
    '          ansible_host: 127.0.0.75',
    '        y2:',
    '          ansible_host: 127.0.0.76',
    '      children:',
    '        inner:',
    '          vars:',
    '            ansible_ssh_port: 7',
    '          hosts:',
    '            y3:',
    '              ansible_host: 127.0.0.77',
    '              ansible_user: mine',
    '',
  ].join('\n'),
};

describe("Ansible's own connection for each host is what till imports", () => {
  for (const [name, text] of Object.entries(CASES))
    it(`${name}: every host's address, user and port as ansible -vvv connects`, () => {
      const file = join(dir, name);
      writeFileSync(file, text);
      const till = tillSays(file, text);
      expect(till).toEqual(ansibleSays(file));
      expect(Object.keys(till)).toHaveLength(name === 'legacy.ini' ? 4 : 3);
    });
});

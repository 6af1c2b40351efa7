/**
 * The names till knows on this machine, for shell completion: hosts, groups,
 * installations and release ids, read from the state files under TILL_HOME. Read only:
 * no lock, no write, no ssh config rebuild, no host contacted; a missing or broken file
 * gives no names (a TAB key must never print an error or change anything).
 */
import { plural } from './format.js';
import { installationsStore } from './installations.js';
import type { TillPaths } from './paths.js';
import { journalStore, type HostDeployState } from './state/deploy-journal.js';
import { hostsStore, type HostsFile } from './state/hosts.js';

/**
 * Journal states in which the host holds the run's release folder: staged, switched,
 * done, or switched back from with the release kept as failed. A host that failed (the
 * run could not stage there) or never got that far has none, and a dry run is never
 * journaled: their ids are no release `rollback --to` could switch to.
 */
const MADE_A_RELEASE: ReadonlySet<HostDeployState> = new Set(['staged', 'switched', 'done', 'reverted']);

export interface Named {
  name: string;
  /** A few words for shells that show them (zsh, fish). */
  description: string;
}

export interface ReleaseName extends Named {
  /** Hosts the release was deployed to (from the deploy journal) or is current or previous on. */
  hosts: string[];
}

export class LocalNames {
  private hostsFile: Promise<HostsFile | undefined> | undefined;

  /** `paths` undefined: a TILL_HOME till may not use (another user's); no names then. */
  constructor(private readonly paths: TillPaths | undefined) {}

  private db(): Promise<HostsFile | undefined> {
    const paths = this.paths;
    return (this.hostsFile ??= paths
      ? hostsStore(paths)
          .read()
          .catch(() => undefined)
      : Promise.resolve(undefined));
  }

  async hosts(): Promise<Named[]> {
    const db = await this.db();
    if (!db) return [];
    return Object.entries(db.hosts).map(([name, h]) => ({
      name,
      description: `${h.user}@${h.host}${h.port === 22 ? '' : `:${h.port}`} (${h.status})`,
    }));
  }

  async groups(): Promise<Named[]> {
    const db = await this.db();
    if (!db) return [];
    return Object.entries(db.groups ?? {}).map(([name, members]) => ({
      name,
      description: plural(members.length, 'host'),
    }));
  }

  async installations(): Promise<Named[]> {
    const file = this.paths
      ? await installationsStore(this.paths)
          .read()
          .catch(() => undefined)
      : undefined;
    if (!file) return [];
    return Object.entries(file.installations).map(([name, i]) => ({
      name,
      description: `${i.path}${file.default === name ? ' (default)' : ''}`,
    }));
  }

  /** Release ids, newest first: those the deploy journal says a host got, and each host's current and previous release. */
  async releases(): Promise<ReleaseName[]> {
    const byId = new Map<string, Set<string>>();
    const add = (id: string | null | undefined, host: string) => {
      if (!id) return;
      const hosts = byId.get(id) ?? new Set<string>();
      hosts.add(host);
      byId.set(id, hosts);
    };
    const journal = this.paths
      ? await journalStore(this.paths)
          .read()
          .catch(() => undefined)
      : undefined;
    for (const run of journal?.runs ?? [])
      for (const [host, p] of Object.entries(run.hosts)) {
        // A host left unchanged kept its live release: that one is there, the run's id is not.
        if (p.unchanged !== undefined) add(p.unchanged, host);
        else if (MADE_A_RELEASE.has(p.state)) add(run.release, host);
      }
    const db = await this.db();
    for (const [host, h] of Object.entries(db?.hosts ?? {})) {
      add(h.deploy?.current, host);
      add(h.deploy?.previous, host);
    }
    return [...byId.entries()]
      .sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0))
      .map(([name, hosts]) => ({ name, hosts: [...hosts].sort(), description: [...hosts].sort().join(', ') }));
  }
}

/**
 * What an inventory parser hands to the import planner: hosts as they were found,
 * their values still raw text (the planner validates them exactly as `host add`
 * does), and notes about what was seen but cannot be carried into till.
 */
export type ImportFormat = 'ssh-config' | 'ansible' | 'pssh';
export const IMPORT_FORMATS: readonly ImportFormat[] = ['ssh-config', 'ansible', 'pssh'];

export interface FoundHost {
  /** The name it had there (ssh alias, Ansible inventory name, pssh host). */
  name: string;
  /** Address to connect to (HostName, ansible_host, the pssh host). */
  address: string;
  user?: string;
  port?: string;
  /** ssh ProxyJump as written (resolved to a till host by the planner), or a till host name. */
  jump?: string;
  tektonPath?: string;
  groups: string[];
  /** Options or variables seen and not carried, for this host. */
  notes: string[];
  /** A reason to leave this host out that is not an error (e.g. not reached over ssh). */
  skip?: string;
  /** file:line, for messages. */
  where: string;
}

export interface FoundInventory {
  format: ImportFormat;
  hosts: FoundHost[];
  /** Every group named in the file (parents hold their children's hosts), including empty ones. */
  groups: string[];
  /** Notes about the file as a whole. */
  notes: string[];
}

/** A file as the parsers see it: ssh config's Include reads more of them through `load`. */
export interface SourceFile {
  path: string;
  text: string;
}

/**
 * The small error family. Errors a user can cause carry an exit code and a hint;
 * anything else reaching the entry point is a bug and is shown with its stack.
 */
export const ExitCode = {
  ok: 0,
  hostFailed: 1,
  usage: 2,
  notRunning: 3,
  state: 4,
  interrupted: 130,
  internal: 70,
} as const;

export class TillError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input: an invalid name, host, port, path, option or target. Exit 2. */
export class UsageError extends TillError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.usage, hint);
  }
}

/** A state file that does not parse or match its schema, or a lock that cannot be had. */
export class StateError extends TillError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.state, hint);
  }
}

/** A precondition on this machine that is not met (no key yet, missing binary). */
export class SetupError extends TillError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.usage, hint);
  }
}

/** A command that ran and reports failure (some host failed). Exit 1, message optional. */
export class FailedError extends TillError {
  constructor(message = '') {
    super(message, ExitCode.hostFailed);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * POSIX shell quoting. Every value from the database or the command line that reaches
 * a remote shell goes through here: single quotes, with each embedded ' written as '\''.
 */
export function shQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a shell argument cannot contain a NUL byte');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A command and its arguments, each quoted once, as one shell line. */
export function shJoin(args: readonly string[]): string {
  return args.map(shQuote).join(' ');
}

/** The shell line `till host exec` sends: one argument is a shell line, several are argv. */
export function execLine(args: readonly string[]): string {
  if (args.length === 1) return args[0] as string;
  return shJoin(args);
}

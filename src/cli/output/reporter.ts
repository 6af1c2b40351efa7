import type { FleetEvent, FleetReport, HostResult } from '../../core/fanout.js';
import type { Cli } from '../context.js';
import { currentOperation } from '../journal.js';
import { renderTable } from './table.js';
import { plural } from '../../core/format.js';
import { formatDuration, Painted, printable, terminalColumns } from './terminal.js';

/**
 * Progress and per-host output of a fleet run. On a terminal: one live line on
 * stderr ("37/200 done, 2 failed · 12.4s · running: web-3, web-7 +4"), redrawn every
 * second so the time moves while hosts are slow. Elsewhere: a plain line per finished
 * host on stderr. With --json: silence until the one JSON document.
 */
export class FleetReporter {
  private done = 0;
  private failed = 0;
  private lineShown = false;
  private lastDraw = 0;
  private readonly started = Date.now();
  /** Hosts started and not done, in the order they started. */
  private readonly running = new Set<string>();
  private ticker: ReturnType<typeof setInterval> | undefined;
  private readonly partial = new Map<string, string>();

  constructor(
    private readonly cli: Cli,
    private readonly total: number,
    private readonly opts: {
      json: boolean;
      stream?: boolean;
      grouped?: boolean;
      quietDone?: boolean;
      detail?: () => string;
    },
  ) {}

  /** Redraws the live line (throttled): its detail changed. */
  refresh(): void {
    this.draw();
  }

  onEvent = (event: FleetEvent): void => {
    // Every fleet run shows its progress here (deploy's two phases too): the journal learns each outcome.
    if (event.type === 'done') currentOperation()?.noteResult(event.result);
    if (this.opts.json) return;
    const c = this.cli.stderrColor;
    if (event.type === 'start') {
      this.running.add(event.host);
      this.startTicker();
    } else if (event.type === 'retry') {
      this.say(
        `${c.yellow('retry')} ${event.host}: attempt ${event.attempt} failed (${printable(event.error)}); retrying in ${formatDuration(event.delayMs)}${event.maxDelayMs > event.delayMs ? `–${formatDuration(event.maxDelayMs)}` : ''}`,
      );
    } else if (event.type === 'done') {
      this.running.delete(event.result.host);
      this.done += 1;
      if (this.done >= this.total) this.stopTicker();
      if (!event.result.ok) this.failed += 1;
      this.flushPartial(event.result.host);
      if (this.opts.grouped) this.printBlock(event.result);
      if (!this.cli.stderrIsTTY && !this.opts.quietDone) {
        const r = event.result;
        // Errors quote what the host said: its control characters are shown, not obeyed.
        this.cli.err(
          `[${this.done}/${this.total}] ${r.host}: ${r.ok ? 'ok' : `${r.status}: ${printable(r.error ?? '')}`}`,
        );
      }
    }
    this.draw();
  };

  /** Streams a host's output as prefixed lines (`web-1 | …`). */
  output = (host: string, stream: 'stdout' | 'stderr', chunk: Buffer): void => {
    if (this.opts.json || !this.opts.stream) return;
    const key = `${stream}\0${host}`;
    const text = (this.partial.get(key) ?? '') + chunk.toString('utf8');
    const lines = text.split('\n');
    this.partial.set(key, lines.pop() ?? '');
    for (const line of lines) this.emitLine(host, stream, line);
  };

  /** --group-output: a host's whole output as one block, as soon as the host is done. */
  private printBlock(r: HostResult): void {
    if (r.stdout === '' && r.stderr === '') return;
    this.clear();
    // cli.out/err end the block with a newline when the host's output did not.
    if (r.stdout !== '') this.cli.out(`${this.cli.stdoutColor.bold(`== ${r.host}`)}\n${r.stdout}`);
    if (r.stderr !== '') this.cli.err(`${this.cli.stderrColor.bold(`== ${r.host} (stderr)`)}\n${r.stderr}`);
  }

  private flushPartial(host: string): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${stream}\0${host}`;
      const rest = this.partial.get(key);
      if (rest) this.emitLine(host, stream, rest);
      this.partial.delete(key);
    }
  }

  private emitLine(host: string, stream: 'stdout' | 'stderr', line: string): void {
    this.clear();
    const prefix =
      stream === 'stdout' ? this.cli.stdoutColor.cyan(`${host} | `) : this.cli.stderrColor.red(`${host} ! `);
    if (stream === 'stdout') this.cli.out(prefix + line);
    else this.cli.err(prefix + line);
  }

  private say(text: string): void {
    this.clear();
    this.cli.err(text);
    this.draw(true);
  }

  /** The clock and the running hosts change without events: redraw once a second, on a terminal only. */
  private startTicker(): void {
    if (this.ticker || !this.cli.stderrIsTTY || this.opts.json) return;
    this.ticker = setInterval(() => this.draw(true), 1000);
    this.ticker.unref();
  }

  private draw(force = false): void {
    if (!this.cli.stderrIsTTY || this.opts.json) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 50 && this.done < this.total) return;
    this.lastDraw = now;
    const failed = this.failed > 0 ? `${this.failed} failed` : '';
    const head = `${this.done}/${this.total} done${failed ? `, ${failed}` : ''} · ${formatDuration(now - this.started)}`;
    // What follows is cut to the terminal's width: one line, always.
    const room = (terminalColumns(process.stderr) ?? 80) - head.length - 4;
    const shown = failed ? head.replace(failed, this.cli.stderrColor.red(failed)) : head;
    const extra = this.opts.detail?.() || (this.done < this.total ? runningList([...this.running], room) : '');
    let detail = extra;
    if (detail.length > room) detail = room > 1 ? `${detail.slice(0, room - 1)}…` : '';
    process.stderr.write(`\r\x1b[K${shown}${detail ? ` · ${detail}` : ''}`);
    this.lineShown = true;
  }

  clear(): void {
    if (this.lineShown) {
      process.stderr.write('\r\x1b[K');
      this.lineShown = false;
    }
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  /** The run is over: no more redraws, and the live line goes. */
  stop(): void {
    this.stopTicker();
    this.clear();
  }
}

/** "running: web-3, web-7 +4": as many names as fit in `room`, and how many more. */
export function runningList(hosts: readonly string[], room: number): string {
  if (hosts.length === 0) return '';
  let text = `running: ${hosts[0]}`;
  let shown = 1;
  while (shown < hosts.length) {
    const next = `${text}, ${hosts[shown]}`;
    const more = hosts.length - shown - 1;
    if (next.length + (more > 0 ? ` +${more}`.length : 0) > room) break;
    text = next;
    shown += 1;
  }
  return shown < hosts.length ? `${text} +${hosts.length - shown}` : text;
}

export function fleetJson(report: FleetReport, extra?: (r: HostResult) => Record<string, unknown>): unknown {
  return {
    ok: report.ok,
    summary: report.summary,
    results: report.results.map((r) => ({
      host: r.host,
      ok: r.ok,
      status: r.status,
      exitCode: r.exitCode,
      stdout: r.stdout,
      stderr: r.stderr,
      attempts: r.attempts,
      durationMs: r.durationMs,
      error: r.error,
      ...(extra ? extra(r) : {}),
    })),
  };
}

/** The summary table: host, result, exit, attempts, duration, error; then one count line. */
export function renderSummary(
  cli: Cli,
  report: FleetReport,
  extraColumns: Array<[string, (r: HostResult) => string]> = [],
): string {
  const c = cli.stdoutColor;
  const paint = (r: HostResult) =>
    new Painted(r.ok ? c.green('ok') : r.status === 'skipped' ? c.dim('skipped') : c.red(r.status));
  const rows = report.results.map((r) => [
    r.host,
    paint(r),
    r.exitCode === null ? '-' : String(r.exitCode),
    String(r.attempts),
    formatDuration(r.durationMs),
    ...extraColumns.map(([, f]) => f(r)),
    r.error ?? '',
  ]);
  const s = report.summary;
  const parts = [plural(s.total, 'host'), `${s.ok} ok`];
  if (s.failed) parts.push(`${s.failed} failed`);
  if (s.unreachable) parts.push(`${s.unreachable} unreachable`);
  if (s.skipped) parts.push(`${s.skipped} skipped`);
  return (
    renderTable(['HOST', 'RESULT', 'EXIT', 'ATTEMPTS', 'DURATION', ...extraColumns.map(([h]) => h), 'ERROR'], rows) +
    parts.join(', ') +
    (report.cancelled ? ' (interrupted)' : '') +
    '\n'
  );
}

import { Option } from 'commander';
import { UsageError, errorMessage } from '../../core/errors.js';
import { collectMetricFamilies } from '../../metrics/collect.js';
import { familiesJson, renderPrometheus } from '../../metrics/prometheus.js';
import { parseListenAddress, startMetricsServer, checkBindAddress } from '../../metrics/server.js';
import type { Cli } from '../context.js';
import type { TillCommand } from '../help.js';

interface MetricsOpts {
  json?: boolean;
  serve?: string;
  metricsAllowRemote?: boolean;
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (sig: NodeJS.Signals) => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      resolve(sig);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

export function registerMetricsCommand(program: TillCommand, cli: Cli): void {
  program
    .command('metrics')
    .description(
      "print the fleet in the Prometheus text format, from the local database (each host's last health check), audit histories and schedule (no network); " +
        '--serve keeps answering GET /metrics over HTTP until SIGINT/SIGTERM',
    )
    .example('till metrics', 'the fleet in the Prometheus text format')
    .example('till metrics --serve 127.0.0.1:9109', 'serve it for a Prometheus server to scrape')
    .addOption(new Option('--json', 'print the metric families as JSON instead').conflicts('serve'))
    .option(
      '--serve <addr:port>',
      'serve /metrics over HTTP on this loopback address (127.0.0.1:9100; port 0 picks a free one)',
    )
    .option('--metrics-allow-remote', 'allow --serve on a non-loopback address (the metrics name every host)')
    .note(
      'See docs/health.md for every metric and label. Run `till host health` (or `till watch`) to refresh the numbers.',
    )
    .action(async (opts: MetricsOpts) => {
      if (opts.metricsAllowRemote && opts.serve === undefined) {
        throw new UsageError(
          '--metrics-allow-remote only applies to --serve',
          'e.g. till metrics --serve 0.0.0.0:9100 --metrics-allow-remote',
        );
      }
      const paths = cli.paths();
      const warn = (message: string) => cli.err(`warning: ${message}`);
      const render = async () => renderPrometheus(await collectMetricFamilies(paths, warn));
      if (opts.serve === undefined) {
        const families = await collectMetricFamilies(paths, warn);
        if (opts.json) cli.json(familiesJson(families));
        else cli.out(renderPrometheus(families));
        return;
      }
      const { address, port } = parseListenAddress(opts.serve);
      checkBindAddress(address, opts.metricsAllowRemote === true);
      await collectMetricFamilies(paths); // fail now, not on the first scrape, when till is not set up
      const server = await startMetricsServer({
        address,
        port,
        allowRemote: opts.metricsAllowRemote === true,
        render,
        onError: (err) => cli.err(`error: a scrape failed: ${errorMessage(err)}`),
      });
      cli.err(`serving metrics at ${server.url} (Ctrl-C to stop)`);
      const sig = await untilSignal();
      await server.close();
      cli.err(`stopped (${sig})`);
    });
}

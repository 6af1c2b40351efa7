import type { Server } from 'node:http';
import { isIP } from 'node:net';
import { UsageError, errorMessage } from '../core/errors.js';
import { CONTENT_TYPE } from './prometheus.js';

/**
 * `GET /metrics` over HTTP for a Prometheus server to scrape; 404 for anything else.
 * It binds a loopback address unless told otherwise: the metrics name every host of
 * the fleet, which is not something to publish on a network by accident.
 */
export interface MetricsServerOptions {
  address: string;
  /** 0 picks a free port; `server.port` tells which. */
  port: number;
  allowRemote?: boolean;
  render: () => string | Promise<string>;
  /** Told about a failed render (the scrape gets a 500). */
  onError?: (err: unknown) => void;
}

export interface MetricsServer {
  address: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.split('.')[0] === '127';
  if (isIP(address) === 6) {
    const a = address.toLowerCase();
    return a === '::1' || a === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(a);
  }
  return false;
}

/**
 * `127.0.0.1:9100`, `[::1]:9100`, `localhost:9100`, or a bare port (`9100`, meaning
 * 127.0.0.1). Names other than localhost are refused: what they resolve to could change.
 */
export function parseListenAddress(value: string, option = '--serve'): { address: string; port: number } {
  const text = value.trim();
  let host: string;
  let portText: string;
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (/^\d+$/.test(text)) {
    host = '127.0.0.1';
    portText = text;
  } else if (bracket) {
    host = bracket[1]!;
    portText = bracket[2]!;
  } else {
    const at = text.lastIndexOf(':');
    if (at === -1 || text.indexOf(':') !== at) {
      throw new UsageError(
        `${option} takes address:port (127.0.0.1:9100, [::1]:9100) or a port, got ${JSON.stringify(value)}`,
      );
    }
    host = text.slice(0, at);
    portText = text.slice(at + 1);
  }
  if (host === 'localhost') host = '127.0.0.1';
  if (isIP(host) === 0)
    throw new UsageError(
      `${option}: ${JSON.stringify(host)} is not an IP address`,
      'give an IP literal such as 127.0.0.1 or [::1]',
    );
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535)
    throw new UsageError(
      `${option}: invalid port ${JSON.stringify(portText)}`,
      'a port is a whole number from 0 to 65535 (0 picks a free one)',
    );
  return { address: host, port: Number(portText) };
}

/** Refuses a non-loopback bind (a UsageError, exit 2) before anything listens. */
export function checkBindAddress(address: string, allowRemote: boolean, flag = '--metrics-allow-remote'): void {
  if (allowRemote || isLoopbackAddress(address)) return;
  throw new UsageError(
    `refusing to serve metrics on ${address}: not a loopback address, and the metrics name every host of the fleet`,
    `bind 127.0.0.1 (and let Prometheus scrape through an ssh tunnel), or pass ${flag} if this network may see them`,
  );
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  checkBindAddress(opts.address, opts.allowRemote === true);
  // Loaded here: only `watch --metrics` and `metrics --serve` serve HTTP (node:http costs every command's start-up).
  const { createServer } = await import('node:http');
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' })
        .end('method not allowed\n');
      return;
    }
    Promise.resolve()
      .then(opts.render)
      .then(
        (body) => {
          res.writeHead(200, {
            'content-type': CONTENT_TYPE,
            'content-length': Buffer.byteLength(body),
            'cache-control': 'no-store',
          });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: unknown) => {
          opts.onError?.(err);
          res
            .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
            .end(`till could not render the metrics: ${errorMessage(err)}\n`);
        },
      );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'the port is in use'
          : err.code === 'EADDRNOTAVAIL'
            ? 'no such address on this machine'
            : err.message;
      reject(new UsageError(`cannot serve metrics on ${opts.address}:${opts.port}: ${why}`));
    };
    server.once('error', onError);
    server.listen({ host: opts.address, port: opts.port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : opts.port;
  const host = isIP(opts.address) === 6 ? `[${opts.address}]` : opts.address;
  return {
    address: opts.address,
    port,
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

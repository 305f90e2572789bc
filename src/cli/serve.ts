/** `poi serve`: the HTTP API (src/server/http.ts) until SIGTERM or SIGINT, then a clean shutdown. */
import { num, parse, str, type Options } from './args.js';
import { PREDICT_OPTIONS, recognizerOptions } from './predict.js';

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = {
  ...PREDICT_OPTIONS,
  port: { type: 'string' },
  host: { type: 'string' },
  concurrency: { type: 'string' },
  queue: { type: 'string' },
  'max-body-mb': { type: 'string' },
  'timeout-ms': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
};

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parse('serve', argv, OPTIONS);
  const port = num('port', values.port, { int: true, min: 0, max: 65535 }) ?? 8080;
  const host = str(values.host) ?? '127.0.0.1';
  const opts = {
    concurrency: num('concurrency', values.concurrency, { int: true, min: 1 }),
    maxQueue: num('queue', values.queue, { int: true, min: 0 }),
    maxBodyBytes: Math.round((num('max-body-mb', values['max-body-mb'], { min: 0.001 }) ?? 10) * 1024 * 1024),
    timeoutMs: num('timeout-ms', values['timeout-ms'], { int: true, min: 1 }),
  };
  const { createRecognizer } = await import('../infer/recognizer.js');
  const { createPoiServer } = await import('../server/http.js');
  const recognizer = await createRecognizer(recognizerOptions(values));
  await recognizer.warmup();
  const quiet = Boolean(values.quiet);
  const srv = createPoiServer(recognizer, {
    ...opts,
    onRequest: quiet ? undefined : (e) => process.stderr.write(`${new Date().toISOString()} ${e.method} ${e.url} ${e.status} ${e.ms}ms\n`),
  });
  const bound = await srv.listen(port, host);
  const shown = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(`poi serve: listening on http://${shown}:${bound} (model ${recognizer.modelDir}, ${recognizer.backend}, detector ${recognizer.detector})\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      process.stderr.write(`poi serve: ${sig}: finishing ${srv.limiter.active + srv.limiter.queued} request(s), then exiting\n`);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      srv.close().then(resolve, resolve);
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  recognizer.dispose();
  process.stderr.write('poi serve: stopped\n');
  return 0;
}

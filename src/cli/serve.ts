/** `poi serve`: the HTTP API (src/server/http.ts) until SIGTERM or SIGINT, then a clean shutdown. */
import { num, parse, str } from './args.js';
import { PREDICT_OPTIONS, recognizerOptions } from './predict.js';

export const SERVE_USAGE = `poi serve [options]

  --port N            port (default 8080; 0 picks a free one)
  --host H            address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --concurrency N     inferences at once (default 1; each already uses every core)
  --queue N           requests that may wait for a slot (default 32; more get 503)
  --max-body-mb X     largest upload in MiB (default 10; more get 413)
  --timeout-ms N      answer within this many ms, queueing included (default 30000; else 504)
  --quiet             no request log
  and predict's --model, --detector, --min-score, --max-side, --max-faces, --shrink, --runtime,
                      --tta, --backend, --threads

  curl --data-binary @photo.jpg -H 'content-type: image/jpeg' 'http://127.0.0.1:8080/predict?explain=1'
  curl -F image=@photo.jpg http://127.0.0.1:8080/predict
  curl http://127.0.0.1:8080/health
`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parse('serve', argv, {
    ...PREDICT_OPTIONS,
    port: { type: 'string' },
    host: { type: 'string' },
    concurrency: { type: 'string' },
    queue: { type: 'string' },
    'max-body-mb': { type: 'string' },
    'timeout-ms': { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  });
  if (values.help) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
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

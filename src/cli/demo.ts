/** `poi demo`: build the browser page if needed and serve it, with the model, on 127.0.0.1. */
import { resolve } from 'node:path';
import { defaultSitePaths, ensureBuilt, PACKAGE_ROOT } from '../demo/site.js';
import { startDemoServer } from '../demo/server.js';
import { num, parse, str, UsageError, type Options } from './args.js';

export const DEFAULT_DEMO_PORT = 8080;

/** Every option the command takes beyond the common ones (its usage in main.ts lists each). */
export const OPTIONS: Options = {
  port: { type: 'string', short: 'p' },
  model: { type: 'string', short: 'm' },
  rebuild: { type: 'boolean' },
};

export async function demoCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse('demo', argv, OPTIONS);
  if (positionals.length) throw new UsageError(`poi demo: unexpected argument "${positionals[0]}"`);
  if (v.backend || v.threads) throw new UsageError('poi demo: the page picks its backend in the browser (add ?backend=webgpu|webgl|wasm|cpu, ?threads=N to the address)');
  const port = num('port', v.port, { int: true, min: 0, max: 65535 }) ?? DEFAULT_DEMO_PORT;
  const modelDir = resolve(str(v.model) ?? resolve(PACKAGE_ROOT, 'models', 'poi-ferplus'));
  const paths = defaultSitePaths();
  await ensureBuilt({ paths, force: !!v.rebuild, log: (l) => process.stderr.write(l + '\n') });
  const demo = await startDemoServer({ siteDir: paths.outDir, modelDir, port, host: '127.0.0.1' });
  process.stdout.write(`poi demo: serving ${demo.url} (model ${modelDir}); Ctrl-C to stop\n`);
  process.stderr.write('poi demo: cross-origin isolated (COOP same-origin, COEP require-corp), so the page can run wasm on threads\n');
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      demo.close().then(done, done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}

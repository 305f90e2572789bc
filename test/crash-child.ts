/**
 * Child process of test/crash.test.ts: one `train()` of a tiny POI run on generated data into argv[2]
 * (argv[3] === 'resume' to resume), so that POI_CRASH_AT can kill it at a named point.
 */
import { initBackend } from '../src/backend/index.js';
import { presetConfig } from '../src/model/config.js';
import { train } from '../src/train/trainer.js';
import { syntheticSet } from './helpers.js';

const [outDir, mode] = process.argv.slice(2);
await initBackend({ backend: process.env.POI_TEST_BACKEND ?? 'wasm', threads: 1 });
const config = presetConfig('poi+tiny');
config.train.epochs = 2;
// high enough that epoch 2 improves on epoch 1, so both epochs swap best/ (the test checks it does)
config.train.lr = 3e-2;
const data = { train: syntheticSet(32, 16, 1), val: syntheticSet(16, 16, 2), source: { synthetic: true } };
await train({ config, data, outDir, resume: mode === 'resume', progress: false, checkpointMinutes: 0, log: (m) => process.stderr.write(m + '\n') });

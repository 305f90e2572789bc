/**
 * The training loop: PIN and TRN (or a baseline's TRN) in one loop, with validation each epoch, a
 * JSON-lines log, atomic checkpoints (each epoch and every few minutes mid-epoch), exact resume, the
 * best model saved as a model folder, and a hard stop on a non-finite loss.
 *
 * Run folder:
 *   config.json      the resolved config and data description (written before the first step)
 *   log.jsonl        one line per epoch (train loss parts, val metrics, lr, images/s, wall time)
 *   checkpoint.bin   last checkpoint (weights, optimiser, position, history)
 *   best/            model folder of the best validation accuracy so far
 *   noise.csv        the flipped samples when --noise > 0
 *   summary.json     final figures
 *   train.lock       while a run holds the folder
 *
 * Order of writes at an epoch's end: best/ (swapped in whole), then checkpoint.bin (atomic), then the
 * log line. A kill between any two leaves a checkpoint that resume continues from; resume rewrites
 * log.jsonl from the checkpoint's history, so the log never holds an epoch twice or one the checkpoint
 * does not, and removes the temp files of the writes the kill interrupted.
 *
 * Shape (as timm's train.py): setupRun (model, optimiser, batches, resume), trainOneEpoch, validate, and
 * CheckpointSaver for every write of progress; trainLocked runs the epochs.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../tf.js';
import type { ImageSet } from '../data/types.js';
import { defaultConfig, mergeConfig, type PoiConfig } from '../model/config.js';
import { readCheckpoint, saveModel, writeCheckpoint, type TensorMap } from '../model/io.js';
import { findUnsound, unsoundValue } from '../model/format.js';
import { checkConfig } from '../model/config-check.js';
import { applyBnUpdates, type Ctx, discardBnUpdates } from '../model/params.js';
import { PoiModel } from '../model/poi.js';
import { loadPretrainedBackbones } from '../model/pretrained.js';
import { backendLabel } from '../backend/index.js';
import { evaluate, type EvalReport } from '../eval/metrics.js';
import { predictSet } from '../eval/predict.js';
import { Progress } from '../util/progress.js';
import { appendJsonl, readJsonl, writeFileAtomic, writeJsonAtomic } from '../util/fs.js';
import { crashPoint } from '../util/crash.js';
import { acquireRunLock, checkRunFolder, cleanRunFolder, makeRunFolder } from './run-folder.js';
import { learningRate, Optimizer } from './optimizer.js';
import { epochBatches, makeBatcher } from './batches.js';
import { injectNoise } from './noise.js';
import { Rng } from '../util/rng.js';

export interface TrainData {
  train: ImageSet;
  val: ImageSet | null;
  /** Where the data came from (paths, splits, counts), recorded in config.json. */
  source: Record<string, unknown>;
}

export interface TrainOptions {
  config: PoiConfig;
  data: TrainData;
  outDir: string;
  resume?: boolean;
  /** Replace the run files already in outDir (otherwise a folder holding any is refused). */
  overwrite?: boolean;
  /** Show a progress bar on stderr (default true). */
  progress?: boolean;
  /** Mid-epoch checkpoint interval in minutes (default 5; 0 = only at epoch ends). */
  checkpointMinutes?: number;
  /** Stop after this many optimisation steps in this process (for tests of crash/resume). */
  maxSteps?: number;
  log?: (msg: string) => void;
}

export interface EpochRecord {
  epoch: number;
  lr: number;
  train: Record<string, number>;
  val: Record<string, number> | null;
  imagesPerSec: number;
  epochSeconds: number;
  wallSeconds: number;
}

interface CheckpointHeader extends Record<string, unknown> {
  kind: 'poi-checkpoint';
  config: PoiConfig;
  classes: string[];
  /** Next position to run. */
  epoch: number;
  step: number;
  optimizerStep: number;
  /** Running sums of the current epoch's training stats (for a mid-epoch resume). */
  epochSums: Record<string, number>;
  epochImages: number;
  epochSeconds: number;
  wallSeconds: number;
  best: { accuracy: number; epoch: number } | null;
  history: EpochRecord[];
}

export interface TrainResult {
  history: EpochRecord[];
  best: { accuracy: number; epoch: number } | null;
  wallSeconds: number;
  finalVal: EvalReport | null;
  stoppedEarly: boolean;
}

/** Training diverged: a loss, a weight or a model output became NaN or infinite (or a weight absurdly large). Nothing of it was written. */
export class NonFiniteError extends Error {}
/** The loss of a step was NaN or infinite. */
export class NonFiniteLossError extends NonFiniteError {}

/**
 * The model as a run's checkpoint holds it (its last saved step, not its best epoch), for analyses of
 * the final weights; the optimizer's state is left out.
 */
export async function modelFromCheckpoint(file: string): Promise<{ model: PoiModel; config: PoiConfig; classes: string[]; epoch: number }> {
  const { header, tensors } = await readCheckpoint<CheckpointHeader>(file);
  if (header.kind !== 'poi-checkpoint') throw new Error(`${file}: not a poi training checkpoint`);
  const model = new PoiModel(header.config.model, header.classes, header.config.seed);
  const params: TensorMap = new Map([...tensors].filter(([k]) => !k.includes('#')));
  model.params.load(params, file);
  return { model, config: header.config, classes: header.classes, epoch: header.epoch };
}

/** Config fields that may differ on resume (the rest must match the checkpoint). */
function comparable(c: PoiConfig): string {
  // fields added to poi after the checkpoint was written take their defaults, which keep the old behaviour
  const full = mergeConfig(defaultConfig(), c);
  return JSON.stringify({ ...full, train: { ...full.train, epochs: 0, evalEvery: 0 } });
}

/** Whether a checkpoint written under `saved` may be resumed under `now` (only the epoch count and eval cadence may differ). */
export function resumableWith(saved: PoiConfig, now: PoiConfig): boolean {
  return comparable(saved) === comparable(now);
}

/**
 * Train into opts.outDir, holding its lock (train.lock) throughout: a second run on the same folder is
 * refused while this one runs.
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  checkConfig(opts.config);
  await makeRunFolder(opts.outDir);
  const lock = await acquireRunLock(opts.outDir, log);
  try {
    const { resume } = await checkRunFolder(opts.outDir, { resume: !!opts.resume, overwrite: !!opts.overwrite }, log);
    const cleaned = await cleanRunFolder(opts.outDir);
    if (cleaned.length) log(`${opts.outDir}: cleaned up after an interrupted run: ${cleaned.join('; ')}`);
    return await trainLocked({ ...opts, resume }, log);
  } finally {
    await lock.release();
  }
}

/** Where a run is: the position to resume from and what it has measured so far (a checkpoint holds all of it). */
interface RunState {
  /** Next position to run. */
  epoch: number;
  step: number;
  /** Running sums of the current epoch's training stats. */
  sums: Record<string, number>;
  images: number;
  epochSeconds: number;
  wallSeconds: number;
  best: CheckpointHeader['best'];
  history: EpochRecord[];
}

/** What a run trains with, built once by setupRun. */
interface Session {
  config: PoiConfig;
  data: TrainData;
  outDir: string;
  classes: string[];
  model: PoiModel;
  optimizer: Optimizer;
  logitOffset: tf.Tensor1D | null;
  logPrior: tf.Tensor1D | null;
  batcher: ReturnType<typeof makeBatcher>;
  steps: number;
  logFile: string;
  state: RunState;
  log: (m: string) => void;
}

async function trainLocked(opts: TrainOptions, log: (m: string) => void): Promise<TrainResult> {
  const s = await setupRun(opts, log);
  const { config, data, outDir, state } = s;
  const tc = config.train;
  try {
    if (state.epoch >= tc.epochs) {
      if (!existsSync(join(outDir, 'summary.json'))) {
        // killed after its last checkpoint: only the summary (and best/ without validation) is missing
        await finishRun(s, null);
        log(`${outDir}: the run had finished its ${tc.epochs} epochs; wrote its missing summary.json`);
      } else {
        log(`${outDir}: the run already finished its ${tc.epochs} epochs; pass --epochs to train longer`);
      }
      return { history: state.history, best: state.best, wallSeconds: state.wallSeconds, finalVal: null, stoppedEarly: false };
    }
    const f = s.model.flops();
    log(
      `model: ${config.model.method}, ${(s.model.params.numParams() / 1e6).toFixed(2)}M parameters, ` +
        `TRN ${(f.trn / 1e6).toFixed(0)} MFLOP/image${f.pin ? `, PIN ${(f.pin / 1e6).toFixed(0)} MFLOP/image` : ''}; ` +
        `${data.train.labels.length} training images, ${s.steps} steps/epoch, backend ${backendLabel()}`,
    );
    const saver = new CheckpointSaver(s, (opts.checkpointMinutes ?? 5) * 60_000);
    const budget = { maxSteps: opts.maxSteps, stepsThisProcess: 0 };
    let finalVal: EvalReport | null = null;
    for (; state.epoch < tc.epochs; Object.assign(state, { epoch: state.epoch + 1, step: 0, sums: {}, images: 0, epochSeconds: 0 })) {
      if ((await trainOneEpoch(s, saver, budget, opts.progress !== false)) === 'stopped') {
        return { history: state.history, best: state.best, wallSeconds: state.wallSeconds, finalVal, stoppedEarly: true };
      }
      const trainStats: Record<string, number> = {};
      for (const [k, v] of Object.entries(state.sums)) trainStats[k === 'correct' ? 'accuracy' : k] = v / Math.max(1, state.images);
      let val: Record<string, number> | null = null;
      const last = state.epoch === tc.epochs - 1;
      await saver.assertSound(`by the end of epoch ${state.epoch + 1}`);
      if (data.val && ((state.epoch + 1) % tc.evalEvery === 0 || last)) {
        const tv = performance.now();
        const report = await validate(s.model, data.val, s.classes.length, state.epoch, saver.lastGood());
        val = headline(report);
        log(
          `epoch ${state.epoch + 1}: train loss ${trainStats.loss.toFixed(4)} acc ${(trainStats.accuracy * 100).toFixed(2)}% | ` +
            `val acc ${(val.accuracy * 100).toFixed(2)}% mean-class ${(val.meanClassAccuracy * 100).toFixed(2)}%` +
            (val.klToVotes !== undefined ? ` KL ${val.klToVotes.toFixed(3)}` : '') +
            (val.spearman !== undefined ? ` spearman ${val.spearman.toFixed(3)}` : '') +
            ` ECE ${val.ece.toFixed(3)} (${((performance.now() - tv) / 1000).toFixed(0)}s)`,
        );
        if (!state.best || val.accuracy > state.best.accuracy) await saver.saveBest(val);
        if (last) finalVal = report;
      }
      await saver.endEpoch({
        epoch: state.epoch + 1,
        lr: learningRate(tc.lr, state.epoch + 1, tc.epochs, tc.lrWarmupEpochs, tc.minLrFactor),
        train: trainStats,
        val,
        imagesPerSec: state.images / Math.max(1e-9, state.epochSeconds),
        epochSeconds: state.epochSeconds,
        wallSeconds: state.wallSeconds,
      });
    }
    await finishRun(s, finalVal);
    return { history: state.history, best: state.best, wallSeconds: state.wallSeconds, finalVal, stoppedEarly: false };
  } finally {
    s.logitOffset?.dispose();
    s.logPrior?.dispose();
    s.optimizer.dispose();
    s.model.dispose();
  }
}

/**
 * The run's model, optimiser and batches, and its position: from the checkpoint on resume (its history
 * becomes the log), else fresh (pretrained weights loaded, config.json and an empty log written).
 */
async function setupRun(opts: TrainOptions, log: (m: string) => void): Promise<Session> {
  const { config, data, outDir } = opts;
  const tc = config.train;
  const classes = data.train.classes;
  const ckptFile = join(outDir, 'checkpoint.bin');
  const logFile = join(outDir, 'log.jsonl');

  // training labels, with synthetic noise when asked (seeded, recorded)
  let labels = data.train.labels;
  if (config.noise > 0 || config.noiseList) {
    const noisy = injectNoise(data.train, config.noise, config.seed, join(outDir, 'noise.csv'), config.noiseList || undefined);
    labels = noisy.labels;
    const from = config.noiseList ? ` from ${config.noiseList}` : '';
    log(`label noise: flipped ${noisy.flipped} of ${noisy.labelled} training labels (${(noisy.rate * 100).toFixed(1)}%)${from}, list in noise.csv`);
  }

  const model = new PoiModel(config.model, classes, config.seed);
  const pretrainedLr = new Map([...model.pretrainedParams()].map((n) => [n, tc.pretrainedLrFactor ?? 1] as [string, number]));
  const optimizer = new Optimizer(
    { kind: tc.optimizer, momentum: tc.momentum, weightDecay: tc.weightDecay, lrScale: pretrainedLr },
    model.params.trainable,
  );
  const logitOffset = tc.logitAdjustment ? tf.keep(logitAdjustmentOffset(labels, classes.length, tc.logitAdjustment)) : null;
  const logPrior = config.model.transfer.priorCorrection ? tf.keep(logitAdjustmentOffset(labels, classes.length, 1)) : null;
  const batcher = makeBatcher(data.train, labels, config);
  const steps = batcher.stepsPerEpoch;
  if (steps === 0) throw new Error(`${data.train.labels.length} training images are fewer than one batch of ${tc.batchSize}`);
  const state: RunState = { epoch: 0, step: 0, sums: {}, images: 0, epochSeconds: 0, wallSeconds: 0, best: null, history: [] };

  if (opts.resume && existsSync(ckptFile)) {
    const { header, tensors } = await readCheckpoint<CheckpointHeader>(ckptFile);
    if (!resumableWith(header.config, config)) {
      throw new Error(`${ckptFile}: the checkpoint was made with a different config; resume with the run's own config.json (only train.epochs may change)`);
    }
    const params: TensorMap = new Map();
    const slots: TensorMap = new Map();
    for (const [k, v] of tensors) (k.includes('#') ? slots : params).set(k, v);
    model.params.load(params, ckptFile);
    optimizer.load(slots, header.optimizerStep, ckptFile);
    Object.assign(state, {
      epoch: header.epoch,
      step: header.step,
      history: header.history,
      best: header.best,
      sums: header.epochSums,
      images: header.epochImages,
      epochSeconds: header.epochSeconds,
      wallSeconds: header.wallSeconds,
    });
    // the log is the checkpoint's history: a kill after a log line and before its checkpoint (or the
    // other way round) would otherwise leave an epoch twice, or none, once this run redoes it
    const history = state.history;
    const logged = existsSync(logFile) ? await readJsonl<EpochRecord>(logFile, { onWarning: () => {} }).catch(() => null) : null;
    if (!logged || JSON.stringify(logged) !== JSON.stringify(history)) {
      await writeFileAtomic(logFile, history.map((h) => JSON.stringify(h) + '\n').join(''));
      if (logged) log(`${logFile}: rewritten to the checkpoint's ${history.length} epoch(s) (it held ${logged.length})`);
    }
    log(`resumed from ${ckptFile} at epoch ${state.epoch + 1}, step ${state.step}/${steps}`);
  } else {
    for (const line of await loadPretrainedBackbones(model)) log(`pretrained ${line}`);
    await writeJsonAtomic(join(outDir, 'config.json'), { config, data: data.source, classes, createdAt: new Date().toISOString() });
    await writeFileAtomic(logFile, '');
  }
  return { config, data, outDir, classes, model, optimizer, logitOffset, logPrior, batcher, steps, logFile, state, log };
}

/**
 * One epoch of training from the state's position: a step per batch, the running sums, a mid-epoch
 * checkpoint when one is due. 'stopped' when the process's step budget (maxSteps) ran out, after a checkpoint.
 */
/**
 * A trap inside the WebAssembly backend (tfjs-wasm reports an exhausted heap as a RuntimeError such as
 * "divide by zero" or "memory access out of bounds") becomes an error that says where it happened and
 * what usually helps; the last checkpoint is left as it was.
 */
export function wasmFailureExplained<T>(step: number, epoch: number, shape: readonly number[], f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    const [b, h, w, c] = shape;
    throw new Error(
      `the WebAssembly backend failed (${e.message}) at step ${step + 1} of epoch ${epoch + 1}, a batch of ${b} at ${h}x${w}x${c}; ` +
        `this is usually its 4 GB memory running out: try a smaller --batch-size. No weights were written for this step.`,
      { cause: e },
    );
  }
}

async function trainOneEpoch(s: Session, saver: CheckpointSaver, budget: { maxSteps?: number; stepsThisProcess: number }, progress: boolean): Promise<'done' | 'stopped'> {
  const { config, classes, model, optimizer, steps, state } = s;
  const tc = config.train;
  const remaining = Math.max(0, steps - state.step) * tc.batchSize;
  const bar = progress ? new Progress({ total: remaining, label: `epoch ${state.epoch + 1}/${tc.epochs}`, unit: 'img' }) : null;
  let t0 = performance.now();
  for (const batch of epochBatches(s.batcher, state.epoch, state.step)) {
    saver.keepProbe(batch);
    const { epoch, step } = state;
    const ep = epoch + step / steps;
    const lr = learningRate(tc.lr, ep, tc.epochs, tc.lrWarmupEpochs, tc.minLrFactor);
    const ctx: Ctx = { training: true, bnUpdates: [], seed: (Rng.derive(config.seed, epoch, step).next() * 2 ** 31) | 0 };
    const partsOut: Record<string, number> = {};
    let correct = 0;
    const { value, grads } = wasmFailureExplained(step, epoch, batch.shape, () => tf.variableGrads(() => {
      const x = tf.tensor4d(batch.x, batch.shape);
      const y = tf.tensor1d(batch.labels, 'int32');
      const soft = batch.soft ? tf.tensor2d(batch.soft, [batch.shape[0], classes.length]) : null;
      const out = model.loss({ x, labels: y, soft, logitOffset: s.logitOffset, logPrior: s.logPrior, labelSmoothing: tc.labelSmoothing }, ep, ctx);
      for (const [k, v] of Object.entries(out.parts)) partsOut[k] = v.dataSync()[0];
      correct = tf.sum(tf.cast(tf.equal(tf.argMax(out.logits, 1), y), 'float32')).dataSync()[0];
      return out.total;
    }));
    const loss = (await value.data())[0];
    if (!Number.isFinite(loss)) {
      tf.dispose([value, ...Object.values(grads)]);
      discardBnUpdates(ctx.bnUpdates);
      throw new NonFiniteLossError(
        `loss became ${loss} at epoch ${epoch + 1}, step ${step + 1} (lr ${lr.toExponential(2)}); ` +
          `no weights were written for this step. ${saver.lastGood()}; try a lower --lr or check the data`,
      );
    }
    const named: Record<string, tf.Tensor> = {};
    for (const [name, v] of model.params.trainable) if (grads[v.name]) named[name] = grads[v.name];
    optimizer.apply(named, lr);
    applyBnUpdates(ctx.bnUpdates);
    tf.dispose([value, ...Object.values(grads)]);

    const b = batch.shape[0];
    const sums = state.sums;
    sums.loss = (sums.loss ?? 0) + loss * b;
    sums.correct = (sums.correct ?? 0) + correct;
    for (const [k, v] of Object.entries(partsOut)) sums[k] = (sums[k] ?? 0) + v * b;
    state.images += b;
    state.step++;
    budget.stepsThisProcess++;
    const t1 = performance.now();
    state.epochSeconds += (t1 - t0) / 1000;
    state.wallSeconds += (t1 - t0) / 1000;
    t0 = t1;
    bar?.tick(b, { loss: sums.loss / state.images, acc: sums.correct / state.images, lr });
    if (budget.maxSteps && budget.stepsThisProcess >= budget.maxSteps) {
      await saver.save();
      return 'stopped';
    }
    await saver.saveIfDue();
  }
  bar?.done({ loss: state.sums.loss / Math.max(1, state.images), acc: state.sums.correct / Math.max(1, state.images) });
  return 'done';
}

/** The model on the validation set; a non-finite output stops the run (NonFiniteError) before anything is written. */
async function validate(model: PoiModel, set: ImageSet, k: number, epoch: number, lastGood: string): Promise<EvalReport> {
  const pred = await predictSet(model, set);
  const bad = [pred.probs.findIndex((v) => !Number.isFinite(v)), pred.confidence.findIndex((v) => !Number.isFinite(v))];
  if (bad[0] >= 0 || bad[1] >= 0) {
    const face = bad[0] >= 0 ? Math.floor(bad[0] / k) : bad[1];
    throw new NonFiniteError(
      `the model's validation outputs became non-finite at the end of epoch ${epoch + 1} (face ${set.paths?.[face] ?? face}): ` +
        `the weights have diverged; nothing was written for this epoch. ${lastGood}; try a lower --lr or check the data`,
    );
  }
  return reportOf(pred, set);
}

/**
 * Every write of a run's progress: checkpoint.bin (mid-epoch when due, and at each epoch's end), best/,
 * the log line, and the soundness check that keeps diverged weights out of all of them.
 */
class CheckpointSaver {
  readonly file: string;
  /** A training batch, kept to check that the model's outputs and loss on it are still finite. */
  private probe: { x: Float32Array; shape: [number, number, number, number]; labels: Int32Array; soft: Float32Array | null } | null = null;
  private lastSaved = Date.now();

  constructor(private readonly s: Session, private readonly intervalMs: number) {
    this.file = join(s.outDir, 'checkpoint.bin');
  }

  keepProbe(batch: { x: Float32Array; shape: [number, number, number, number]; labels: Int32Array; soft: Float32Array | null }): void {
    if (this.probe) return;
    const n = Math.min(batch.shape[0], 16);
    const [, h, w, c] = batch.shape;
    const k = this.s.classes.length;
    this.probe = { x: batch.x.slice(0, n * h * w * c), shape: [n, h, w, c], labels: batch.labels.slice(0, n), soft: batch.soft ? batch.soft.slice(0, n * k) : null };
  }

  lastGood(): string {
    return existsSync(this.file) ? `The last good checkpoint is ${this.file}` : 'No checkpoint was written yet';
  }

  /**
   * Throw NonFiniteError unless every weight and optimiser slot (`tensors`, read now if not given) is
   * finite and within ±MAX_ABS_WEIGHT (format.ts), and the model's outputs and its training loss on a
   * training batch are finite. A step can blow the weights up to finite garbage (1e30) while its own
   * loss was finite: the magnitude bound, or else the next step's loss, shows it, and these weights
   * must not be saved before it.
   */
  async assertSound(where: string, tensors?: TensorMap): Promise<void> {
    const { model, optimizer, classes, steps, state } = this.s;
    const tc = this.s.config.train;
    const all = tensors ?? new Map([...(await model.params.read()), ...(await optimizer.read())]);
    const bad = findUnsound(all);
    let problem = bad ? `weight "${bad.name}" became ${unsoundValue(bad.value)}` : '';
    if (!problem && this.probe) {
      const pr = this.probe;
      const ctx: Ctx = { training: true, bnUpdates: [], seed: 1 };
      const [probs, conf, loss] = tf.tidy(() => {
        const x = tf.tensor4d(pr.x, pr.shape);
        const p = model.predict(x);
        const soft = pr.soft ? tf.tensor2d(pr.soft, [pr.shape[0], classes.length]) : null;
        const inputs = { x, labels: tf.tensor1d(pr.labels, 'int32'), soft, logitOffset: this.s.logitOffset, logPrior: this.s.logPrior, labelSmoothing: tc.labelSmoothing };
        const l = model.loss(inputs, state.epoch + state.step / steps, ctx).total;
        return [p.probs.dataSync(), p.confidence.dataSync(), l.dataSync()[0]];
      });
      discardBnUpdates(ctx.bnUpdates);
      const out = [...probs, ...conf].find((v) => !Number.isFinite(v));
      if (out !== undefined) problem = `the model's outputs on a training batch became ${out} (the weights have diverged)`;
      else if (!Number.isFinite(loss)) problem = `the loss on a training batch became ${loss} (the weights have diverged)`;
    }
    if (problem) {
      throw new NonFiniteError(
        `${problem} ${where} (lr ${learningRate(tc.lr, state.epoch + state.step / steps, tc.epochs, tc.lrWarmupEpochs, tc.minLrFactor).toExponential(2)}); ` +
          `nothing was written for it. ${this.lastGood()}; try a lower --lr or check the data`,
      );
    }
  }

  /** Save the position to resume from: mid-epoch by default, or the start of the next epoch. */
  async save(atNextEpoch = false): Promise<void> {
    const { config, classes, optimizer, model, state } = this.s;
    const { epoch, step, wallSeconds, best, history } = state;
    const header: CheckpointHeader = atNextEpoch
      ? { kind: 'poi-checkpoint', config, classes, epoch: epoch + 1, step: 0, optimizerStep: optimizer.step,
          epochSums: {}, epochImages: 0, epochSeconds: 0, wallSeconds, best, history }
      : { kind: 'poi-checkpoint', config, classes, epoch, step, optimizerStep: optimizer.step,
          epochSums: state.sums, epochImages: state.images, epochSeconds: state.epochSeconds, wallSeconds, best, history };
    const tensors: TensorMap = new Map([...(await model.params.read()), ...(await optimizer.read())]);
    await this.assertSound(`at epoch ${epoch + 1}, step ${step}`, tensors);
    await writeCheckpoint(this.file, header, tensors);
  }

  /** A mid-epoch checkpoint once the interval has passed (never on an epoch's last step: its end saves). */
  async saveIfDue(): Promise<void> {
    if (this.intervalMs > 0 && Date.now() - this.lastSaved > this.intervalMs && this.s.state.step < this.s.steps) {
      await this.save();
      this.lastSaved = Date.now();
    }
  }

  /** A new best validation accuracy: best/ swapped in whole. */
  async saveBest(val: Record<string, number>): Promise<void> {
    const { state, model, config, outDir } = this.s;
    state.best = { accuracy: val.accuracy, epoch: state.epoch + 1 };
    await saveModel(model, config, join(outDir, 'best'), { split: 'val', epoch: state.epoch + 1, ...val });
  }

  /** An epoch's end: its record into the history, the checkpoint (at the next epoch), then the log line. */
  async endEpoch(rec: EpochRecord): Promise<void> {
    const { history } = this.s.state;
    history.push(rec);
    try {
      await this.save(true);
    } catch (e) {
      history.pop();
      throw e;
    }
    this.lastSaved = Date.now();
    crashPoint('log:before-append');
    await appendJsonl(this.s.logFile, rec);
    crashPoint('log:after-append');
  }
}

/** The end of a run: best/ when there is no validation split, then summary.json. */
async function finishRun(s: Session, finalVal: EvalReport | null): Promise<void> {
  const { config, data, outDir, model, state } = s;
  const tc = config.train;
  if (!data.val) await saveModel(model, config, join(outDir, 'best'), { split: 'train', epoch: tc.epochs });
  crashPoint('summary:before-write');
  await writeJsonAtomic(join(outDir, 'summary.json'), {
    method: config.model.method, preset: config.preset, noise: config.noise, noiseList: config.noiseList || null, seed: config.seed,
    epochs: tc.epochs, best: state.best, wallSeconds: state.wallSeconds,
    imagesPerSec: state.history.length ? state.history.reduce((a, h) => a + h.imagesPerSec, 0) / state.history.length : 0,
    // the last epoch's validation figures: also what a run resumed after its last checkpoint has
    final: finalVal ? headline(finalVal) : (state.history.at(-1)?.val ?? null),
  });
}

/** τ·log(class frequency) of the training labels (unlabelled −1 ignored; empty classes get the rarest's count). */
export function logitAdjustmentOffset(labels: ArrayLike<number>, k: number, tau: number): tf.Tensor1D {
  const counts = new Float64Array(k);
  for (let i = 0; i < labels.length; i++) if (labels[i] >= 0 && labels[i] < k) counts[labels[i]]++;
  const total = counts.reduce((a, b) => a + b, 0);
  const floor = Math.max(1, Math.min(...[...counts].filter((c) => c > 0)));
  return tf.tensor1d([...counts].map((c) => tau * Math.log(Math.max(c, floor) / total)));
}

export async function evaluateSet(model: PoiModel, set: ImageSet): Promise<EvalReport> {
  return reportOf(await predictSet(model, set), set);
}

function reportOf(pred: Awaited<ReturnType<typeof predictSet>>, set: ImageSet): EvalReport {
  return evaluate({
    probs: pred.probs,
    labels: set.labels,
    classes: set.classes,
    votes: set.soft ?? undefined,
    uncertainty: pred.confidence.map((c) => 1 - c),
  });
}

/** The scalar figures of an evaluation, for logs and tables. */
export function headline(r: EvalReport): Record<string, number> {
  const out: Record<string, number> = { accuracy: r.accuracy, meanClassAccuracy: r.meanClassAccuracy, ece: r.calibration.ece };
  if (r.votes) out.klToVotes = r.votes.kl;
  const u = r.uncertainty;
  if (u) {
    if (u.spearmanVoteEntropy !== undefined) out.spearman = u.spearmanVoteEntropy;
    for (const p of u.riskCoverage.points) out[`acc@${Math.round(p.coverage * 100)}`] = p.accuracy;
    out.aurc = u.riskCoverage.aurc;
  }
  return out;
}

export function readLog(runDir: string): Promise<EpochRecord[]> {
  return readJsonl<EpochRecord>(join(runDir, 'log.jsonl'));
}

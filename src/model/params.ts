/**
 * Named parameters and state. A model is a set of named tf.Variables (trainable weights) plus named
 * non-trainable state (batch-norm running statistics). Names are stable, so saving, loading and
 * checkpointing are a name → Float32Array map.
 */
import * as tf from '../tf.js';
import { Rng } from '../util/rng.js';

export class ParamStore {
  readonly trainable = new Map<string, tf.Variable>();
  readonly state = new Map<string, tf.Variable>();
  constructor(readonly rng: Rng) {}

  private add(map: Map<string, tf.Variable>, name: string, values: Float32Array, shape: number[], trainable: boolean): tf.Variable {
    if (this.trainable.has(name) || this.state.has(name)) throw new Error(`duplicate parameter name ${name}`);
    const v = tf.variable(tf.tensor(values, shape, 'float32'), trainable, name + '_' + nextId++);
    map.set(name, v);
    return v;
  }

  /** He-normal (fan-in) init for conv/dense kernels followed by ReLU. */
  he(name: string, shape: number[], fanIn: number): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1);
    const std = Math.sqrt(2 / fanIn);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = this.rng.normal() * std;
    return this.add(this.trainable, name, v, shape, true);
  }

  /** Glorot-uniform init for heads. */
  glorot(name: string, shape: number[], fanIn: number, fanOut: number): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1);
    const lim = Math.sqrt(6 / (fanIn + fanOut));
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = this.rng.uniform(-lim, lim);
    return this.add(this.trainable, name, v, shape, true);
  }

  const(name: string, shape: number[], value: number | Float32Array, trainable = true): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = typeof value === 'number' ? new Float32Array(n).fill(value) : Float32Array.from(value);
    if (v.length !== n) throw new Error(`parameter ${name}: ${v.length} values for shape [${shape}]`);
    return this.add(trainable ? this.trainable : this.state, name, v, shape, trainable);
  }

  /** All variables (trainable and state) by name. */
  all(): Map<string, tf.Variable> {
    return new Map([...this.trainable, ...this.state]);
  }

  /** Read every variable into plain arrays (for saving). */
  async read(): Promise<Map<string, { shape: number[]; values: Float32Array }>> {
    const out = new Map<string, { shape: number[]; values: Float32Array }>();
    for (const [name, v] of this.all()) out.set(name, { shape: v.shape.slice(), values: (await v.data()) as Float32Array });
    return out;
  }

  /** Assign values by name; every variable must be present with the right shape. */
  load(values: Map<string, { shape: number[]; values: Float32Array }>, source = 'weights'): void {
    for (const [name, v] of this.all()) {
      const w = values.get(name);
      if (!w) throw new Error(`${source}: missing parameter "${name}"`);
      if (w.shape.join('x') !== v.shape.join('x')) {
        throw new Error(`${source}: parameter "${name}" has shape [${w.shape}], model expects [${v.shape}]`);
      }
      v.assign(tf.tensor(w.values, w.shape, 'float32'));
    }
  }

  numParams(trainableOnly = true): number {
    let n = 0;
    for (const v of (trainableOnly ? this.trainable : this.all()).values()) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.all().values()) v.dispose();
    this.trainable.clear();
    this.state.clear();
  }
}
let nextId = 0;

/** Running batch-norm statistics produced by a training forward pass, applied after the step. */
export type BnUpdates = Array<{ mean: tf.Variable; variance: tf.Variable; batchMean: tf.Tensor; batchVar: tf.Tensor; momentum: number }>;

export interface Ctx {
  training: boolean;
  /** Collected in training mode; the trainer applies and disposes them. */
  bnUpdates: BnUpdates;
  /** Seed for this step's random masks (dropout), derived from (run seed, epoch, step). */
  seed?: number;
}

export class Conv {
  readonly w: tf.Variable;
  constructor(p: ParamStore, name: string, readonly cin: number, readonly cout: number, readonly k = 3, readonly stride: 1 | 2 = 1) {
    this.w = p.he(`${name}.w`, [k, k, cin, cout], k * k * cin);
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.conv2d(x, this.w as tf.Tensor4D, this.stride, 'same');
  }
  flops(h: number, w: number): number {
    return (2 * this.k * this.k * this.cin * this.cout * h * w) / (this.stride * this.stride);
  }
}

/**
 * Batch norm written with broadcasting arithmetic rather than tf.batchNorm: its gradient then needs
 * only sums over axes, not the Tile of [C] to the full NHWC shape that tfjs-core's FusedBatchNorm
 * gradient does (slow on wasm).
 */
export class BatchNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly mean: tf.Variable;
  readonly variance: tf.Variable;
  constructor(p: ParamStore, name: string, readonly c: number, readonly momentum = 0.9, readonly eps = 1e-5) {
    this.gamma = p.const(`${name}.gamma`, [c], 1);
    this.beta = p.const(`${name}.beta`, [c], 0);
    this.mean = p.const(`${name}.mean`, [c], 0, false);
    this.variance = p.const(`${name}.var`, [c], 1, false);
  }
  apply(x: tf.Tensor, ctx: Ctx): tf.Tensor {
    const axes = x.rank === 4 ? [0, 1, 2] : [0];
    if (ctx.training) {
      const { mean, variance } = tf.moments(x, axes);
      ctx.bnUpdates.push({ mean: this.mean, variance: this.variance, batchMean: tf.keep(mean), batchVar: tf.keep(variance), momentum: this.momentum });
      const inv = tf.rsqrt(tf.add(variance, this.eps));
      return tf.add(tf.mul(tf.sub(x, mean), tf.mul(inv, this.gamma)), this.beta);
    }
    // inference: fold into one scale and shift
    const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(this.variance, this.eps)));
    const shift = tf.sub(this.beta, tf.mul(this.mean, scale));
    return tf.add(tf.mul(x, scale), shift);
  }
}

export class Dense {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  constructor(p: ParamStore, name: string, readonly cin: number, readonly cout: number, init: 'he' | 'glorot' = 'glorot', bias = 0) {
    this.w = init === 'he' ? p.he(`${name}.w`, [cin, cout], cin) : p.glorot(`${name}.w`, [cin, cout], cin, cout);
    this.b = p.const(`${name}.b`, [cout], bias);
  }
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.w as tf.Tensor2D), this.b) as tf.Tensor2D;
  }
}

/** Apply the batch-norm running-statistics updates collected during a training forward pass. */
export function applyBnUpdates(updates: BnUpdates): void {
  for (const u of updates) {
    tf.tidy(() => {
      u.mean.assign(tf.add(tf.mul(u.mean, u.momentum), tf.mul(u.batchMean, 1 - u.momentum)));
      u.variance.assign(tf.add(tf.mul(u.variance, u.momentum), tf.mul(u.batchVar, 1 - u.momentum)));
    });
    u.batchMean.dispose();
    u.batchVar.dispose();
  }
  updates.length = 0;
}

/** Dispose collected updates without applying them (e.g. after an evaluation-only forward). */
export function discardBnUpdates(updates: BnUpdates): void {
  for (const u of updates) {
    u.batchMean.dispose();
    u.batchVar.dispose();
  }
  updates.length = 0;
}

/**
 * Optimisers with their state held as named variables, so a checkpoint can save and restore them
 * exactly (tfjs's own optimisers hide their slot names). Decoupled weight decay (AdamW style) for both;
 * batch-norm scales/shifts and biases are not decayed.
 */
import * as tf from '../tf.js';

export interface OptimizerConfig {
  kind: 'sgd' | 'adamw';
  momentum: number;
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Per-parameter learning-rate multipliers (by name; 1 where absent): pretrained parts train slower. */
  lrScale?: Map<string, number>;
}

export class Optimizer {
  /** Slot variables by "<param>#m" / "<param>#v". */
  readonly slots = new Map<string, tf.Variable>();
  step = 0;

  constructor(readonly cfg: OptimizerConfig, private readonly params: Map<string, tf.Variable>) {
    for (const [name, v] of params) {
      this.slots.set(`${name}#m`, tf.variable(tf.zerosLike(v), false));
      if (cfg.kind === 'adamw') this.slots.set(`${name}#v`, tf.variable(tf.zerosLike(v), false));
    }
  }

  private static decays(name: string): boolean {
    return name.endsWith('.w');
  }

  /** Apply gradients (by variable name) at learning rate lr. */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const { kind, momentum, weightDecay } = this.cfg;
    const b1 = this.cfg.beta1 ?? 0.9;
    const b2 = this.cfg.beta2 ?? 0.999;
    const eps = this.cfg.eps ?? 1e-8;
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    tf.tidy(() => {
      for (const [name, p] of this.params) {
        const g = grads[name];
        if (!g) continue;
        const m = this.slots.get(`${name}#m`)!;
        const wd = Optimizer.decays(name) ? weightDecay : 0;
        let update: tf.Tensor;
        if (kind === 'sgd') {
          // Nesterov momentum
          const mNew = tf.add(tf.mul(m, momentum), g);
          m.assign(mNew);
          update = tf.add(g, tf.mul(mNew, momentum));
        } else {
          const v = this.slots.get(`${name}#v`)!;
          const mNew = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
          const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
          m.assign(mNew);
          v.assign(vNew);
          update = tf.div(tf.div(mNew, bc1), tf.add(tf.sqrt(tf.div(vNew, bc2)), eps));
        }
        const plr = lr * (this.cfg.lrScale?.get(name) ?? 1);
        let next = tf.sub(p, tf.mul(update, plr));
        if (wd > 0) next = tf.sub(next, tf.mul(p, plr * wd));
        p.assign(next);
      }
    });
  }

  async read(): Promise<Map<string, { shape: number[]; values: Float32Array }>> {
    const out = new Map<string, { shape: number[]; values: Float32Array }>();
    for (const [name, v] of this.slots) out.set(name, { shape: v.shape.slice(), values: (await v.data()) as Float32Array });
    return out;
  }

  load(values: Map<string, { shape: number[]; values: Float32Array }>, step: number, source: string): void {
    for (const [name, v] of this.slots) {
      const w = values.get(name);
      if (!w) throw new Error(`${source}: missing optimiser slot "${name}"`);
      v.assign(tf.tensor(w.values, w.shape, 'float32'));
    }
    this.step = step;
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
  }
}

/** Learning rate at a fractional epoch: linear warm-up, then cosine decay to lr·minLrFactor. */
export function learningRate(base: number, epoch: number, total: number, warmup: number, minFactor: number): number {
  if (warmup > 0 && epoch < warmup) return (base * (epoch + 1e-3)) / warmup;
  const t = Math.min(1, (epoch - warmup) / Math.max(1e-9, total - warmup));
  const min = base * minFactor;
  return min + 0.5 * (base - min) * (1 + Math.cos(Math.PI * t));
}

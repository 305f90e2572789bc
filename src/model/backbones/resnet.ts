/** 'resnet': basic residual blocks, stride-2 stages, a 3x3 stem and no max-pool (for small faces); from scratch. */
import * as tf from '../../tf.js';
import type { BackboneConfig } from '../config.js';
import type { Ctx, ParamStore } from '../params.js';
import { checkStages, type ConvBn, convBn, lastOf, onnxConvBn, runConvBn } from './layers.js';
import type { BackboneKind, BackboneNet } from './types.js';

interface ResBlock {
  a: ConvBn;
  b: ConvBn;
  down?: ConvBn;
}

const blockStride = (s: number, i: number): 1 | 2 => (s > 0 && i === 0 ? 2 : 1);

class ResNet implements BackboneNet {
  private readonly stem: ConvBn;
  private readonly stages: ResBlock[][] = [];
  readonly outChannels: number;
  readonly stageChannels: number[];

  constructor(p: ParamStore, name: string, cfg: BackboneConfig, inChannels: number) {
    this.stem = convBn(p, `${name}.stem`, inChannels, cfg.widths[0]);
    let cin = cfg.widths[0];
    cfg.widths.forEach((w, s) => {
      const stage: ResBlock[] = [];
      for (let i = 0; i < cfg.depths[s]; i++) {
        const stride = blockStride(s, i);
        const blk: ResBlock = { a: convBn(p, `${name}.s${s}.b${i}.a`, cin, w, 3, stride), b: convBn(p, `${name}.s${s}.b${i}.b`, w, w) };
        if (stride !== 1 || cin !== w) blk.down = convBn(p, `${name}.s${s}.b${i}.down`, cin, w, 1, stride);
        stage.push(blk);
        cin = w;
      }
      this.stages.push(stage);
    });
    this.outChannels = cin;
    this.stageChannels = [...cfg.widths];
  }


  stageOutputs(x: tf.Tensor4D, ctx: Ctx, upTo = this.stages.length): tf.Tensor4D[] {
    const outs: tf.Tensor4D[] = [];
    x = runConvBn(this.stem, x, ctx);
    for (const stage of this.stages.slice(0, upTo)) {
      for (const blk of stage) {
        const h = runConvBn(blk.b, runConvBn(blk.a, x, ctx), ctx, false);
        const sc = blk.down ? runConvBn(blk.down, x, ctx, false) : x;
        x = tf.relu(tf.add(h, sc));
      }
      outs.push(x);
    }
    return outs;
  }

  features(x: tf.Tensor4D, ctx: Ctx, upTo?: number): tf.Tensor4D {
    return lastOf(this.stageOutputs(x, ctx, upTo));
  }

  flops(h: number, w: number, upTo = this.stages.length): number {
    let f = this.stem.conv.flops(h, w);
    for (const stage of this.stages.slice(0, upTo)) {
      for (const blk of stage) {
        f += blk.a.conv.flops(h, w);
        if (blk.down) f += blk.down.conv.flops(h, w);
        if (blk.a.conv.stride === 2) {
          h = Math.ceil(h / 2);
          w = Math.ceil(w / 2);
        }
        f += blk.b.conv.flops(h, w);
      }
    }
    return f;
  }

  outputSize(h: number, w: number, upTo = this.stages.length): { h: number; w: number } {
    for (let s = 1; s < upTo; s++) {
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
    }
    return { h, w };
  }
}

export const resnet: BackboneKind = {
  describe: 'ResNet: basic residual blocks, 3x3 stem, stride-2 stages, from scratch',
  validate: checkStages,
  build: (p, name, cfg, inChannels) => new ResNet(p, name, cfg, inChannels),
  onnx(g, name, cfg, f) {
    f = onnxConvBn(g, `${name}.stem`, f, cfg.widths[0], 3, 1, true);
    cfg.widths.forEach((width, s) => {
      for (let i = 0; i < cfg.depths[s]; i++) {
        const stride = blockStride(s, i);
        const blk = `${name}.s${s}.b${i}`;
        const a = onnxConvBn(g, `${blk}.a`, f, width, 3, stride, true);
        const b = onnxConvBn(g, `${blk}.b`, a, width, 3, 1, false);
        const sc = stride !== 1 || f.c !== width ? onnxConvBn(g, `${blk}.down`, f, width, 1, stride, false) : f;
        const sum = g.node('Add', [b.x, sc.x], [], `${blk}.add`);
        f = { ...b, x: g.node('Relu', [sum], [], `${blk}.relu`) };
      }
    });
    return f;
  },
};

/** 'vgg': stages of 3x3 conv-BN-ReLU, then 2x2 max-pool. Cheap per FLOP on a CPU; trained from scratch. */
import * as tf from '../../tf.js';
import { onnxPool } from '../../onnx/graph.js';
import type { BackboneConfig } from '../config.js';
import type { Ctx, ParamStore } from '../params.js';
import { checkStages, type ConvBn, convBn, lastOf, onnxConvBn, runConvBn } from './layers.js';
import type { BackboneKind, BackboneNet } from './types.js';

class Vgg implements BackboneNet {
  private readonly stages: ConvBn[][] = [];
  readonly outChannels: number;
  readonly stageChannels: number[];

  constructor(p: ParamStore, name: string, cfg: BackboneConfig, inChannels: number) {
    let cin = inChannels;
    cfg.widths.forEach((w, s) => {
      const stage: ConvBn[] = [];
      for (let i = 0; i < cfg.depths[s]; i++) {
        stage.push(convBn(p, `${name}.s${s}.c${i}`, cin, w));
        cin = w;
      }
      this.stages.push(stage);
    });
    this.outChannels = cin;
    this.stageChannels = [...cfg.widths];
  }


  stageOutputs(x: tf.Tensor4D, ctx: Ctx, upTo = this.stages.length): tf.Tensor4D[] {
    const outs: tf.Tensor4D[] = [];
    for (const stage of this.stages.slice(0, upTo)) {
      for (const u of stage) x = runConvBn(u, x, ctx);
      x = tf.maxPool(x, 2, 2, 'same');
      outs.push(x);
    }
    return outs;
  }

  features(x: tf.Tensor4D, ctx: Ctx, upTo?: number): tf.Tensor4D {
    return lastOf(this.stageOutputs(x, ctx, upTo));
  }

  flops(h: number, w: number, upTo = this.stages.length): number {
    let f = 0;
    for (const stage of this.stages.slice(0, upTo)) {
      for (const u of stage) f += u.conv.flops(h, w);
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
    }
    return f;
  }

  outputSize(h: number, w: number, upTo = this.stages.length): { h: number; w: number } {
    for (let s = 0; s < upTo; s++) {
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
    }
    return { h, w };
  }
}

export const vgg: BackboneKind = {
  describe: 'VGG: stages of 3x3 conv-BN-ReLU then 2x2 max-pool, from scratch',
  validate: checkStages,
  build: (p, name, cfg, inChannels) => new Vgg(p, name, cfg, inChannels),
  onnx(g, name, cfg, f) {
    cfg.widths.forEach((width, s) => {
      for (let i = 0; i < cfg.depths[s]; i++) f = onnxConvBn(g, `${name}.s${s}.c${i}`, f, width, 3, 1, true);
      f = onnxPool(g, 'MaxPool', `${name}.s${s}.pool`, f, 2, 2, 'same');
    });
    return f;
  },
};

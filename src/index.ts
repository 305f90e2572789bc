/**
 * poi-fer: facial expression recognition that knows when people disagree.
 *
 *   import { initBackend, presetConfig, train, loadModel, evaluate } from 'poi-fer';
 *
 * Data → model (prior, PIN, TRN, uncertainty) → train → eval. The `poi` command wraps the same API.
 */
export { initBackend, type BackendOptions } from './backend/index.js';
export * from './data/index.js';
export { AUS, AU_NAMES, EMOTION_PROTOTYPES, DEFAULT_REGIONS, priorEmotion, regionalTargets, auPatterns, type RegionSpec } from './model/prior.js';
export {
  defaultConfig,
  presetConfig,
  mergeConfig,
  PRESETS,
  type PoiConfig,
  type ModelConfig,
  type TrainConfig,
  type BackboneConfig,
  type PinConfig,
  type UncertaintyConfig,
  type TransferConfig,
  type InputSpec,
  type Method,
} from './model/config.js';
export { PoiModel, transferWeight, type Prediction } from './model/poi.js';
export { saveModel, loadModel, readModelManifest, type ModelManifest } from './model/io.js';
export { train, evaluateSet, headline, readLog, NonFiniteError, NonFiniteLossError, type TrainOptions, type TrainResult, type EpochRecord } from './train/trainer.js';
export { evaluate, type EvalReport } from './eval/metrics.js';
export { formatReport } from './eval/format.js';
export { predictSet, predictSetWithRunner, type SetPredictions } from './eval/predict.js';
export { exportOnnx, exportOnnxFromDir, buildTrnOnnx } from './onnx/export.js';
export { fitTemperature, scaleProbs, crossFitTemperature, type TemperatureFit, type CrossFit } from './eval/calibrate.js';
export { writeCalibratedModel } from './model/calibration.js';
export { evaluateModel, predictModelSet, type EvaluateModelOptions, type Runtime } from './eval/evaluate-model.js';
export { calibrateModel, type CalibrateOptions, type CalibrateResult } from './eval/calibrate-model.js';
export { classPrior, writeBalancedModel } from './model/balance.js';
export { fitConfidence, fitConfidenceHead, applyConfidenceHead, type FitConfidenceOptions, type FitConfidenceResult } from './eval/fit-confidence.js';
export { writeConfidenceHead } from './model/confidence.js';
export { voteAgreement } from './eval/metrics.js';
export { rewriteWeights } from './model/io.js';
export { type BalanceRecord, type ConfidenceRecord, type DescribeRecord, type WeightDtype } from './model/format.js';
export { BACKBONES, backboneKind, createBackbone, type BackboneKind, type BackboneNet, type PretrainedSource } from './model/backbones/index.js';
export { loadPretrainedBackbones, pretrainedWeights } from './model/pretrained.js';
export { defaultSplits, loadSet } from './data/load.js';
export { type CalibrationRecord } from './model/io.js';
export { createOrtRunner, onnxAvailable, type OrtRunnerOptions } from './infer/ort-runner.js';
export {
  createRecognizer,
  defaultModelDir,
  type Recognizer,
  type RecognizerOptions,
  type RecognizeOptions,
  type DetectorName,
  type FaceResult,
  type RegionResult,
  type ImageResult,
} from './infer/recognizer.js';
export { createPipeline, photoFromRgba, type Pipeline, type PipelineOptions, type PipelineResult, type Platform, type Photo, type AlignedCrop, type DetectedFace, type DetectTiming } from './infer/pipeline.js';
export { createTfjsRunner, withFlipTta, type TrnRunner, type Tta } from './infer/runner.js';
export { openRunner, RUNTIMES, type OpenRunnerOptions } from './infer/runtime.js';
export { FER_TEMPLATE, alignFace, alignPoints, alignmentTransform, facePoints, placeRegion, warpToCrop, type FacePoints, type Point, type Box, type RawImage, type Similarity } from './face/align.js';
export { ImageError } from './face/image.js';
export { type DetectorOptions } from './face/detector.js';
export { type LocatorOptions } from './face/locators.js';
export { type StageTiming } from './infer/timing.js';
export { type ShrinkMode } from './face/image.js';
export { createPoiServer, type PoiServer, type ServerOptions } from './server/http.js';
export { describeUncertainty, describeOptionsFor, describeBandsProblem, DEFAULT_DESCRIBE, type Description, type DescribeOptions, type DescribeSource, type UncertaintyLevel } from './ui/describe.js';

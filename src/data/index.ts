/** poi's data path: readers → decoded ImageSet (cached) → augmented, normalised batches. */
export type { Sample, Dataset, ImageSet, Batch } from './types.js';
export { type ReadOptions, IMAGE_EXTENSIONS } from './common.js';
export { parseCsv, type CsvRow } from './csv.js';
export {
  readFerplus,
  ferplusMajority,
  ferplusSoft,
  ferplusDropSingle,
  FERPLUS_CLASSES,
  FERPLUS_VOTE_COLUMNS,
  type FerplusOptions,
  type FerplusSoftMode,
} from './ferplus.js';
export { readRafdb, findRafdbList, RAFDB_CLASSES } from './rafdb.js';
export { readFolder } from './folder.js';
export { readCsvManifest, type ManifestOptions } from './manifest.js';
export { readDataset, detectFormat, type DatasetSpec, type DatasetFormat } from './detect.js';
export { mapClasses, labelledOnly, classCounts } from './classes.js';
export {
  decodeDataset,
  decodeImage,
  defaultCacheDir,
  cacheKey,
  readCacheFile,
  writeCacheFile,
  type DecodeOptions,
  type DecodedSet,
  type ResizeFit,
} from './decode.js';
export {
  augment,
  augmentInto,
  augmentConfig,
  drawAugmentParams,
  DEFAULT_AUGMENT,
  NO_AUGMENT,
  type AugmentConfig,
  type AugmentParams,
  type BorderMode,
} from './augment.js';
export { Batcher, type BatcherOptions } from './batcher.js';
export { injectLabelNoise, writeNoiseList, readNoiseList, applyNoiseList, samplePathKey, type FlippedLabel } from './noise.js';

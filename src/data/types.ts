/** Shared shapes of poi's data path: reader → decoded image set → batches. */

/** One labelled face as a reader finds it (before decoding). */
export interface Sample {
  /** Absolute path of the image file. */
  path: string;
  /** Hard label: index into the dataset's classes, or -1 where there is none (e.g. FERPlus "unknown"). */
  label: number;
  /** Soft label (e.g. FERPlus annotator votes normalised over the classes), length = classes.length. */
  soft?: Float32Array;
}

/** What a reader returns: a list of samples and the class names their labels index. */
export interface Dataset {
  /** e.g. "ferplus:FER2013Train", "rafdb:train", "folder:/data/x", "csv:/data/m.csv" */
  name: string;
  classes: string[];
  samples: Sample[];
  /** Problems found while reading (e.g. a listed file that does not exist); reported, then skipped. */
  warnings: string[];
}

/** Decoded images held in memory, compact: uint8 pixels, NHWC. */
export interface ImageSet {
  classes: string[];
  height: number;
  width: number;
  channels: 1 | 3;
  /** N*H*W*C bytes. */
  pixels: Uint8Array;
  /** N hard labels (-1 = none). */
  labels: Int32Array;
  /** N*K soft labels, or null when the source has none. */
  soft: Float32Array | null;
  /** N source paths (for reports and noise lists). */
  paths: string[];
}

/** One training or evaluation batch, ready for the model. */
export interface Batch {
  /** B*H*W*C floats, normalised to the model's input range. */
  x: Float32Array;
  shape: [number, number, number, number];
  /** Hard labels used for training (possibly noisy). */
  labels: Int32Array;
  /** Soft labels (B*K) or null. */
  soft: Float32Array | null;
  /** Indices of the batch's samples in the ImageSet. */
  index: Int32Array;
}

/** The one place poi imports tfjs-core from, so every module shares the same engine and backend. */
export * from '@tensorflow/tfjs-core';

/** The one place poi imports tfjs from, so every module shares the same engine and backend. */
export * from '@tensorflow/tfjs';

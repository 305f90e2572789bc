/**
 * Names of the photo path's choices, in a module without imports (the CLI validates flags with them before
 * loading tfjs, sharp or any model).
 */

/** Face detectors poi offers (src/face/locators.ts). */
export type LocatorName = 'ssd' | 'tiny' | 'blazeface';

export const LOCATORS: readonly LocatorName[] = ['ssd', 'tiny', 'blazeface'];

/**
 * The detector when none is asked for, in Node (`poi predict`, `poi serve`, createRecognizer) and for the
 * browser page's photos (web/src/engine.ts), so both give the same faces: BlazeFace, the fastest, which finds
 * about as many faces as face-api's detectors at no cost in accuracy (README: "Speed of the photo path",
 * "What each detector does to accuracy").
 */
export const DEFAULT_LOCATOR: LocatorName = 'blazeface';

/**
 * How a photo is shrunk to maxSide before detection (src/face/image.ts decodePhoto):
 * - 'sharp' (Node's default): libvips resizes while it decodes (Lanczos-3; a JPEG shrunk by 2x or more is
 *   partly shrunk inside the JPEG decoder itself), several times faster than the JS shrink on a big photo.
 * - 'js': full decode, then poi's own shrink (src/face/resize.ts), the code the browser demo runs, so the page
 *   and `poi predict --shrink js` detect on identical pixels.
 * The two give slightly different pixels; test/photo.test.ts bounds what that does to the final probabilities.
 */
export type ShrinkMode = 'sharp' | 'js';

export const SHRINK_MODES: readonly ShrinkMode[] = ['sharp', 'js'];

/** --shrink / options.shrink: validated. */
export function parseShrink(v: string | undefined): ShrinkMode | undefined {
  if (v === undefined || v === '') return undefined;
  if (v !== 'sharp' && v !== 'js') throw new Error(`shrink: expected sharp or js, got "${v}"`);
  return v;
}

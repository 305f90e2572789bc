/** The input spec's alignSize: photos are aligned at the training faces' resolution, then resized to the input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FER_TEMPLATE, alignFace, warpToCrop, type Point } from '../src/face/align.js';
import { resizeLanczos3 } from '../src/face/resize.js';
import { Rng } from '../src/util/rng.js';

/** A 200x200 grey image and 68 landmarks whose eyes, nose and mouth sit on the template (scaled by 100, shifted by 50). */
function photo(): { img: { data: Uint8Array; width: number; height: number; channels: number }; marks: Point[] } {
  const rng = new Rng(2);
  const data = new Uint8Array(200 * 200);
  for (let i = 0; i < data.length; i++) data[i] = (i % 200) + Math.floor(rng.uniform(0, 40));
  const at = (p: Point): Point => [50 + 100 * p[0], 50 + 100 * p[1]];
  const marks: Point[] = Array.from({ length: 68 }, () => at(FER_TEMPLATE.nose));
  for (const i of [36, 37, 38, 39, 40, 41]) marks[i] = at(FER_TEMPLATE.leftEye);
  for (const i of [42, 43, 44, 45, 46, 47]) marks[i] = at(FER_TEMPLATE.rightEye);
  for (let i = 48; i < 68; i++) marks[i] = at(FER_TEMPLATE.mouth);
  return { img: { data, width: 200, height: 200, channels: 1 }, marks };
}

test('alignFace with alignSize: a 48x48 crop resized to the input size with Lanczos-3; without it, the crop at the input size', () => {
  const { img, marks } = photo();
  const direct = alignFace(img, marks, { size: 112, channels: 1 });
  const viaSmall = alignFace(img, marks, { size: 112, channels: 1, alignSize: 48 });
  assert.equal(direct.pixels.length, 112 * 112);
  assert.equal(viaSmall.pixels.length, 112 * 112);
  const small = warpToCrop(img, direct.transform, 48);
  const want = resizeLanczos3({ data: small, width: 48, height: 48, channels: 1 }, 112, 112).data;
  assert.deepEqual(viaSmall.pixels, want);
  assert.notDeepEqual(viaSmall.pixels, direct.pixels, 'the 48 px detour loses detail, as the training faces did');
  assert.deepEqual(viaSmall.transform, direct.transform, 'regions map back to the photo the same way');
  assert.deepEqual(alignFace(img, marks, { size: 112, channels: 1, alignSize: 112 }).pixels, direct.pixels);
});

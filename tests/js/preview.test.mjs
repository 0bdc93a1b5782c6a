// The fills the page previews itself (static/painting/canvas/preview.js), as painting/masking.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PREVIEW_FILLS, filledPixels } from "../../static/painting/canvas/preview.js";

test("the fills' arithmetic is masking.py's", () => {
  assert.deepEqual(PREVIEW_FILLS.mean(1, 2, 3), [124, 116, 104]);
  assert.deepEqual(PREVIEW_FILLS.black(1, 2, 3), [0, 0, 0]);
  assert.deepEqual(PREVIEW_FILLS.darken(255, 101, 0), [127, 50, 0]);
  assert.deepEqual(PREVIEW_FILLS.brighten(0, 100, 255), [128, 178, 255]);
  // PIL's "L": (r·19595 + g·38470 + b·7471 + 0x8000) >> 16
  assert.deepEqual(PREVIEW_FILLS.grey(255, 0, 0), [76, 76, 76]);
  assert.deepEqual(PREVIEW_FILLS.grey(255, 255, 255), [255, 255, 255]);
});

test("only pixels painted (alpha at least 128) are filled, and the picture is not changed", () => {
  const picture = new Uint8ClampedArray([10, 20, 30, 255, 40, 50, 60, 255]);
  const mask = new Uint8ClampedArray([255, 45, 85, 128, 255, 45, 85, 127]);
  const out = filledPixels(picture, mask, PREVIEW_FILLS.black);
  assert.deepEqual([...out], [0, 0, 0, 255, 40, 50, 60, 255]);
  assert.deepEqual([...picture], [10, 20, 30, 255, 40, 50, 60, 255]);
});

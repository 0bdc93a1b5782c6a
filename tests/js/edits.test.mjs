// The edits' arithmetic (static/painting/canvas/edits.js), as painting/edits.py does it.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  NO_EDITS, hasEdits, normalise, rotated, flippedHorizontally, flippedVertically, describeEdits,
  editsFromFields, editsToFields, editsFromHistory, cropBetween, keptCrop, editedPixels,
} from "../../static/painting/canvas/edits.js";

// A picture whose every pixel's red is its index (alpha 255), `w` × `h`.
function picture(w, h) {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let p = 0; p < w * h; p++) { data[p * 4] = p; data[p * 4 + 3] = 255; }
  return { width: w, height: h, data };
}
const reds = (img) => Array.from({ length: img.width * img.height }, (_, p) => img.data[p * 4]);

test("no edits are no edits; any crop, flip or turn is one", () => {
  assert.equal(hasEdits(NO_EDITS), false);
  assert.equal(hasEdits({ ...NO_EDITS, rotation: 90 }), true);
  assert.equal(hasEdits({ ...NO_EDITS, crop: [0, 0, 4, 4] }), true);
});

test("both mirrors are written as a half turn", () => {
  assert.deepEqual(normalise({ crop: null, flipH: true, flipV: true, rotation: 90 }),
    { crop: null, flipH: false, flipV: false, rotation: 270 });
});

test("Rotate turns a quarter clockwise, four times back to none", () => {
  let e = NO_EDITS;
  const seen = [];
  for (let i = 0; i < 4; i++) { e = rotated(e); seen.push(e.rotation); }
  assert.deepEqual(seen, [90, 180, 270, 0]);
});

test("a flip after a turn is recorded with the opposite turn (mirroring reverses turns)", () => {
  assert.deepEqual(flippedHorizontally(rotated(NO_EDITS)), { crop: null, flipH: true, flipV: false, rotation: 270 });
  // Flipping the other way as well makes a half turn of what was there.
  assert.deepEqual(flippedVertically(flippedHorizontally(NO_EDITS)), { crop: null, flipH: false, flipV: false, rotation: 180 });
});

test("the words are edits.Edits.describe()'s", () => {
  assert.equal(describeEdits({ crop: [1, 2, 30, 40], flipH: true, flipV: false, rotation: 90 }),
    "Cropped to 30×40 at (1, 2), flipped left–right, rotated 90° clockwise");
  assert.equal(describeEdits(NO_EDITS), "");
});

test("the form's fields round-trip; a malformed crop is none", () => {
  const e = { crop: [3, 4, 50, 60], flipH: false, flipV: true, rotation: 270 };
  assert.deepEqual(editsFromFields(editsToFields(e)), e);
  assert.deepEqual(editsFromFields({ crop: "1,2,3", flip_horizontal: "", flip_vertical: "", rotation: "" }), NO_EDITS);
});

test("a history item's edits: crop;flipH;flipV;rotation, and none when absent", () => {
  assert.deepEqual(editsFromHistory("10,20,30,40;1;;180"), { crop: [10, 20, 30, 40], flipH: true, flipV: false, rotation: 180 });
  assert.deepEqual(editsFromHistory(undefined), NO_EDITS);
});

test("a crop is the whole-pixel rectangle between two points, inside the picture, either way round", () => {
  assert.deepEqual(cropBetween([10.4, 20.6], [2, 5], 100, 50), [2, 5, 8, 16]);
  assert.deepEqual(cropBetween([-5, 40], [120, 70], 100, 50), [0, 40, 100, 10]);
  assert.equal(keptCrop([0, 0, 3, 50]), null); // a click, not a drag: no crop
  assert.deepEqual(keptCrop([0, 0, 4, 4]), [0, 0, 4, 4]);
});

// The picture 3 wide, 2 high:  0 1 2
//                              3 4 5
test("a quarter turn clockwise puts the bottom-left pixel at the top-left (PIL's ROTATE_270)", () => {
  const out = editedPixels(picture(3, 2), { ...NO_EDITS, rotation: 90 });
  assert.deepEqual([out.width, out.height], [2, 3]);
  assert.deepEqual(reds(out), [3, 0, 4, 1, 5, 2]);
});

test("flips mirror the picture; a half turn is both", () => {
  assert.deepEqual(reds(editedPixels(picture(3, 2), { ...NO_EDITS, flipH: true })), [2, 1, 0, 5, 4, 3]);
  assert.deepEqual(reds(editedPixels(picture(3, 2), { ...NO_EDITS, flipV: true })), [3, 4, 5, 0, 1, 2]);
  assert.deepEqual(reds(editedPixels(picture(3, 2), { ...NO_EDITS, rotation: 180 })), [5, 4, 3, 2, 1, 0]);
  assert.deepEqual(reds(editedPixels(picture(3, 2), { ...NO_EDITS, rotation: 270 })), [2, 5, 1, 4, 0, 3]);
});

test("the crop comes first, then the flip, then the turn", () => {
  // Crop the right 2×2 (1 2 / 4 5), mirror it (2 1 / 5 4), turn it clockwise (5 2 / 4 1).
  const out = editedPixels(picture(3, 2), { crop: [1, 0, 2, 2], flipH: true, flipV: false, rotation: 90 });
  assert.deepEqual(reds(out), [5, 2, 4, 1]);
});

// The region map (static/painting/canvas/regions.js): id = red + 256 × green.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeRegions, boundaryPixels, regionAt } from "../../static/painting/canvas/regions.js";

// 3 × 2 map: 0 0 300
//            0 1 300
function map() {
  const ids = [0, 0, 300, 0, 1, 300];
  const rgba = new Uint8ClampedArray(ids.length * 4);
  ids.forEach((id, p) => { rgba[p * 4] = id & 255; rgba[p * 4 + 1] = id >> 8; rgba[p * 4 + 3] = 255; });
  return decodeRegions(rgba, 3, 2);
}

test("every pixel gets its segment's id, every segment its box", () => {
  const regions = map();
  assert.deepEqual([...regions.labels], [0, 0, 300, 0, 1, 300]);
  assert.deepEqual(regions.boxes[0], [0, 0, 1, 1]);
  assert.deepEqual(regions.boxes[1], [1, 1, 1, 1]);
  assert.deepEqual(regions.boxes[300], [2, 0, 2, 1]);
});

test("the boundary marks pixels whose right or lower neighbour is another segment", () => {
  const alpha = [...boundaryPixels(map())].filter((_, i) => i % 4 === 3);
  assert.deepEqual(alpha, [0, 140, 0, 140, 140, 0]);
});

test("a point maps to the segment under it, clamped inside the picture", () => {
  const regions = map();
  assert.equal(regionAt(regions, [1.9, 1.2]), 1);
  assert.equal(regionAt(regions, [99, -4]), 300);
});

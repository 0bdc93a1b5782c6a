// The detect task's pure parts (static/painting/canvas/detections.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { visibleBoxes, boxPlacement, hueOf, lineShown } from "../../static/painting/canvas/detections.js";

const boxes = [
  { id: 1, label: "tie", score: 0.48, box: [213, 405, 295, 549] },
  { id: 2, label: "person", score: 0.17, box: [0, 47, 512, 600] },
  { id: 3, label: "tie", score: 0.21, box: [242, 454, 278, 499] },
];

test("boxes under the threshold are hidden, the followed one never, and drawn last", () => {
  assert.deepEqual(visibleBoxes(boxes, 0.2).map((b) => b.id), [1, 3]);
  assert.deepEqual(visibleBoxes(boxes, 0.5).map((b) => b.id), []);
  assert.deepEqual(visibleBoxes(boxes, 0.2, 2).map((b) => b.id), [1, 3, 2]);
  assert.deepEqual(visibleBoxes(boxes, 0.1, 1).map((b) => b.id), [3, 2, 1]);
});

test("a box is placed in percentages of the picture", () => {
  assert.deepEqual(boxPlacement(boxes[1], 512, 600), {
    left: "0.000%", top: "7.833%", width: "100.000%", height: "92.167%",
  });
});

test("each object keeps its colour, and neighbours differ", () => {
  assert.equal(hueOf(1), hueOf(1));
  assert.notEqual(hueOf(1), hueOf(2));
  for (let id = 1; id < 50; id++) assert.ok(hueOf(id) >= 0 && hueOf(id) < 360);
});

test("a line shows while its score now or before reaches the threshold", () => {
  assert.equal(lineShown(0, 0.48, 0.45), true); // gone, but it was above
  assert.equal(lineShown(0.35, 0, 0.45), false); // new, under it
  assert.equal(lineShown(0.5, 0, 0.45), true);
});

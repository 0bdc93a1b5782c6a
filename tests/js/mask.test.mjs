// Stroke rasterisation and the mask's pixels (static/painting/canvas/mask.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  segmentPath, strokePaths, brushPixels, picturePoint, paintedShare, storedMaskToPaint, PAINT_RGB,
} from "../../static/painting/canvas/mask.js";

test("a stroke that does not move is a round dot of the brush's width", () => {
  const path = segmentPath({ tool: "paint", size: 12 }, [5, 6], [5, 6]);
  assert.deepEqual(path, { shape: "dot", composite: "source-over", width: 12, x: 5, y: 6, radius: 6 });
});

test("a moving stroke is a line the brush's width; the eraser cuts instead of painting", () => {
  const path = segmentPath({ tool: "erase", size: 9 }, [0, 0], [3, 4]);
  assert.deepEqual(path, { shape: "line", composite: "destination-out", width: 9, from: [0, 0], to: [3, 4] });
});

test("a stroke is drawn as a dot at its first point, then a segment to each next point", () => {
  const op = { tool: "paint", size: 4, points: [[1, 1], [2, 1], [2, 5]] };
  const paths = strokePaths(op);
  assert.deepEqual(paths.map((p) => p.shape), ["dot", "line", "line"]);
  assert.deepEqual(paths[1].from, [1, 1]);
  assert.deepEqual(paths[2].from, [2, 1]);
  assert.deepEqual(paths[2].to, [2, 5]);
});

test("the brush's width in picture pixels follows the canvas's scale, at least one pixel", () => {
  assert.equal(brushPixels(16, 2.5), 40);
  assert.equal(brushPixels(4, 0.1), 1);
  assert.equal(brushPixels(5, 0.5), 3); // 2.5 rounds up
});

test("a pointer maps to the picture's pixels through the canvas's screen rectangle, to a tenth", () => {
  const rect = { left: 100, top: 50, width: 200 };
  assert.deepEqual(picturePoint(150, 75, rect, 400), [100, 50]);
  assert.deepEqual(picturePoint(100.33, 50, rect, 300), [0.5, 0]);
});

test("the painted share counts pixels whose alpha is at least 128", () => {
  const rgba = new Uint8ClampedArray([0, 0, 0, 128, 0, 0, 0, 127, 0, 0, 0, 255, 0, 0, 0, 0]);
  assert.equal(paintedShare(rgba), 0.5);
});

test("a stored white-on-black mask becomes the paint colour where white, clear elsewhere", () => {
  const rgba = new Uint8ClampedArray([255, 255, 255, 255, 10, 10, 10, 255, 128, 128, 128, 255]);
  storedMaskToPaint(rgba);
  assert.deepEqual([...rgba], [...PAINT_RGB, 255, ...PAINT_RGB, 0, ...PAINT_RGB, 255]);
});

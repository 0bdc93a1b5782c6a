// Zoom, pan and pinch (static/painting/canvas/view.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_ZOOM, clampView, zoomAround, pinchView, fingers, viewTransform, viewLogEntry, wheelFactor,
} from "../../static/painting/canvas/view.js";

const near = (a, b) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test("the zoom stays between 1 and the most, and the picture always fills the stage", () => {
  assert.deepEqual(clampView({ zoom: 0.5, tx: 10, ty: -10 }, 400, 300), { zoom: 1, tx: 0, ty: 0 });
  assert.deepEqual(clampView({ zoom: 20, tx: -5000, ty: 5 }, 400, 300), { zoom: MAX_ZOOM, tx: -2800, ty: 0 });
  assert.deepEqual(clampView({ zoom: 2, tx: -100, ty: -50 }, 400, 300), { zoom: 2, tx: -100, ty: -50 });
});

test("zooming keeps the point under the pointer where it was", () => {
  const before = { zoom: 1.5, tx: -40, ty: -20 };
  const after = zoomAround(before, 2, 120, 80);
  assert.equal(after.zoom, 3);
  // The picture's point under (120, 80), in unzoomed stage pixels, before and after.
  near((120 - before.tx) / before.zoom, (120 - after.tx) / after.zoom);
  near((80 - before.ty) / before.zoom, (80 - after.ty) / after.zoom);
});

test("zooming past the most stops there", () => {
  assert.equal(zoomAround({ zoom: 6, tx: 0, ty: 0 }, 4, 0, 0).zoom, MAX_ZOOM);
});

test("a pinch scales by the fingers' spread and keeps the picture under their middle", () => {
  const start = fingers([100, 100], [200, 100]);
  assert.deepEqual(start, { distance: 100, middle: [150, 100] });
  const gesture = { ...start, zoom: 1, tx: 0, ty: 0 };
  const now = fingers([80, 130], [280, 130]); // twice as far apart, moved down 30
  const view = pinchView(gesture, now.distance, now.middle);
  assert.equal(view.zoom, 2);
  near((now.middle[0] - view.tx) / view.zoom, 150);
  near((now.middle[1] - view.ty) / view.zoom, 100);
});

test("two fingers on one spot count as a pixel apart", () => {
  assert.equal(fingers([5, 5], [5, 5]).distance, 1);
});

test("the transform is none at zoom 1, a translate then a scale otherwise", () => {
  assert.equal(viewTransform({ zoom: 1, tx: 0, ty: 0 }), "");
  assert.equal(viewTransform({ zoom: 2, tx: -10, ty: -5 }), "translate(-10px, -5px) scale(2)");
});

test("the brush log gets the zoom and the picture's pixel at the view's top-left", () => {
  assert.deepEqual(viewLogEntry({ zoom: 2.00049, tx: -100, ty: -50 }, 2.5),
    { type: "view", zoom: 2, x: 125, y: 62 });
});

test("the wheel zooms in as it rolls up, by lines and pages too", () => {
  assert.ok(wheelFactor(-100, 0, 500) > 1);
  near(wheelFactor(100, 0, 500), Math.exp(-0.2));
  near(wheelFactor(3, 1, 500), wheelFactor(48, 0, 500));
  near(wheelFactor(1, 2, 500), wheelFactor(500, 0, 500));
});

// The brush's sizes (static/painting/canvas/brush.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { BRUSH_STEPS, nextSize, rememberedSizes, toolHint } from "../../static/painting/canvas/brush.js";

test("[ and ] step through the sizes, from any size, and stop at the ends", () => {
  assert.equal(nextSize(16, 1), 24);
  assert.equal(nextSize(16, -1), 12);
  assert.equal(nextSize(17, -1), 16);
  assert.equal(nextSize(BRUSH_STEPS.at(-1), 1), null);
  assert.equal(nextSize(BRUSH_STEPS[0], -1), null);
});

test("remembered sizes are used per tool when inside the range; anything else is the default", () => {
  assert.deepEqual(rememberedSizes('{"paint": 40, "erase": 8}', 20, 4, 120), { paint: 40, erase: 8 });
  assert.deepEqual(rememberedSizes('{"paint": 400, "erase": "x"}', 20, 4, 120), { paint: 20, erase: 20 });
  assert.deepEqual(rememberedSizes("not json", 20, 4, 120), { paint: 20, erase: 20 });
  assert.deepEqual(rememberedSizes(null, 20, 4, 120), { paint: 20, erase: 20 });
});

test("a tool's hint speaks of taps and fingers on a touch screen, and of keys only elsewhere", () => {
  for (const name of ["paint", "erase", "region", "pan", "crop"]) {
    assert.doesNotMatch(toolHint(name, true), /\[|\]|Space|Shift|[Cc]lick/);
    assert.notEqual(toolHint(name, false), "");
  }
  assert.match(toolHint("region", true), /^Tap a region/);
  assert.match(toolHint("region", false), /Shift\+click/);
});

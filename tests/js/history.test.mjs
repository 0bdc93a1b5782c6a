// Undo, redo and the operations replayed (static/painting/canvas/history.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { record, takeUndo, takeRedo, replayed } from "../../static/painting/canvas/history.js";

const fresh = () => ({ base: null, done: [], undone: [] });

test("undo takes the latest operation back, redo puts it again", () => {
  const h = fresh();
  record(h, { type: "stroke", id: 1 });
  record(h, { type: "stroke", id: 2 });
  assert.equal(takeUndo(h).id, 2);
  assert.deepEqual(replayed(h).map((op) => op.id), [1]);
  assert.equal(takeRedo(h).id, 2);
  assert.deepEqual(replayed(h).map((op) => op.id), [1, 2]);
});

test("nothing to undo or redo gives null and changes nothing", () => {
  const h = fresh();
  assert.equal(takeUndo(h), null);
  assert.equal(takeRedo(h), null);
  assert.deepEqual(h, fresh());
});

test("a new operation after an undo leaves nothing to redo", () => {
  const h = fresh();
  record(h, { type: "stroke", id: 1 });
  takeUndo(h);
  record(h, { type: "clear" });
  assert.equal(takeRedo(h), null);
  assert.deepEqual(replayed(h).map((op) => op.type), ["clear"]);
});

test("the mask the page was loaded with is replayed first, and undo never removes it", () => {
  const h = fresh();
  h.base = { type: "restore", image: "loaded" };
  record(h, { type: "region", segment: 3 });
  takeUndo(h);
  assert.equal(takeUndo(h), null);
  assert.deepEqual(replayed(h), [{ type: "restore", image: "loaded" }]);
});

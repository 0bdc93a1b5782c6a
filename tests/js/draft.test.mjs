// The draft kept for a reload (static/painting/canvas/draft.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { unsent, usableDraft } from "../../static/painting/canvas/draft.js";

const MASK = "data:image/png;base64,iVBORw0KGgo=";

test("a draft is kept only for changes a round would send", () => {
  assert.equal(unsent([]), false);
  assert.equal(unsent([{ type: "restore", source: "load" }, { type: "tool" }, { type: "blur" }]), false);
  assert.equal(unsent([{ type: "restore", source: "draft" }, { type: "view" }]), false);
  for (const type of ["stroke", "region", "clear", "undo", "redo", "edit"]) {
    assert.equal(unsent([{ type }]), true, type);
  }
  assert.equal(unsent([{ type: "restore", mask: "/e/1/r/2/mask.png" }]), true);
});

test("a stored draft is taken back only for the same round, and only when it is whole", () => {
  const draft = { round: "r-7", mask: MASK, events: [{ type: "stroke" }], elapsed: 1200 };
  assert.deepEqual(usableDraft(JSON.stringify(draft), "r-7"), draft);
  assert.equal(usableDraft(JSON.stringify(draft), "r-8"), null); // classified since
  assert.equal(usableDraft(null, "r-7"), null);
  assert.equal(usableDraft("{not json", "r-7"), null);
  assert.equal(usableDraft("42", "r-7"), null);
  assert.equal(usableDraft(JSON.stringify({ ...draft, mask: "javascript:alert(1)" }), "r-7"), null);
  assert.equal(usableDraft(JSON.stringify({ ...draft, events: "x" }), "r-7"), null);
  assert.equal(usableDraft(JSON.stringify({ ...draft, elapsed: -5 }), "r-7"), null);
});

// The key table (static/painting/canvas/keyboard.js): which row takes which key, where.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KEY_BINDINGS, bindingsFor, keyStep, movedCursor } from "../../static/painting/canvas/keyboard.js";

const key = (k, extra = {}) => ({
  type: "keydown", key: k, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...extra,
});
const where = (target, extra = {}) => ({ target, brushByKeys: false, tool: "paint", ...extra });
const actions = (event, context) => bindingsFor(event, context).map((row) => [row.does, row.arg]);

test("Ctrl+Z undoes, Ctrl+Shift+Z and Ctrl+Y redo, Cmd works as Ctrl", () => {
  assert.deepEqual(actions(key("z", { ctrlKey: true }), where("other")), [["undo", undefined]]);
  assert.deepEqual(actions(key("Z", { ctrlKey: true, shiftKey: true }), where("canvas")), [["redo", undefined]]);
  assert.deepEqual(actions(key("y", { metaKey: true }), where("control")), [["redo", undefined]]);
  assert.deepEqual(actions(key("z", { metaKey: true }), where("other")), [["undo", undefined]]);
});

test("a text field or a menu keeps its keys", () => {
  for (const k of ["z", "p", "[", "]", " "]) {
    assert.deepEqual(actions(key(k, { ctrlKey: k === "z" }), where("text")), [], k);
  }
});

test("the letters choose tools, with or without Shift, never with Ctrl or Alt", () => {
  const tools = { p: "paint", e: "erase", h: "pan", r: "region", c: "crop" };
  for (const [k, name] of Object.entries(tools)) {
    assert.deepEqual(actions(key(k), where("other")), [["chooseTool", name]]);
    assert.deepEqual(actions(key(k.toUpperCase(), { shiftKey: true }), where("canvas")), [["chooseTool", name]]);
    assert.deepEqual(actions(key(k, { altKey: true }), where("other")), []);
  }
  assert.deepEqual(actions(key("c", { ctrlKey: true }), where("other")), []); // copy stays copy
});

test("[ and ] step the brush size", () => {
  assert.deepEqual(actions(key("["), where("canvas")), [["stepSize", -1]]);
  assert.deepEqual(actions(key("]"), where("control")), [["stepSize", 1]]);
});

test("the arrows move the brush on the focused canvas only, with Shift too, not with Ctrl", () => {
  assert.deepEqual(actions(key("ArrowLeft"), where("canvas")), [["moveBrush", [-1, 0]]]);
  assert.deepEqual(actions(key("ArrowDown", { shiftKey: true }), where("canvas")), [["moveBrush", [0, 1]]]);
  assert.deepEqual(actions(key("ArrowLeft"), where("other")), []);
  assert.deepEqual(actions(key("ArrowLeft", { ctrlKey: true }), where("canvas")), []);
});

test("Space paints with the keyboard brush on the canvas, and otherwise readies a pan", () => {
  const brush = where("canvas", { brushByKeys: true });
  assert.deepEqual(actions(key(" "), brush), [["brushDown", undefined]]);
  assert.deepEqual(actions(key(" ", { shiftKey: true }), brush), [["brushDown", undefined]]);
  assert.deepEqual(actions(key(" "), where("canvas")), [["panReady", undefined]]);
  assert.deepEqual(actions(key(" "), where("other")), [["panReady", undefined]]);
  // The Pan tool with the keyboard brush on the canvas: Space does neither.
  assert.deepEqual(actions(key(" "), where("canvas", { brushByKeys: true, tool: "pan" })), []);
  // A button keeps Space (it presses the button).
  assert.deepEqual(actions(key(" "), where("control")), []);
});

test("letting go of Space ends the keyboard stroke and the pan together", () => {
  const up = { ...key(" "), type: "keyup" };
  assert.deepEqual(actions(up, where("canvas", { brushByKeys: true })), [["brushUp", undefined], ["panDone", undefined]]);
  assert.deepEqual(actions(up, where("text")), [["panDone", undefined]]);
});

// (Letting go of Space does two things on purpose: the test above.)
test("no two rows take the same key press in the same place unless a condition tells them apart", () => {
  const seen = new Map();
  for (const row of KEY_BINDINGS) {
    if (row.when || row.on !== "keydown") continue;
    for (const place of row.where) {
      const id = [row.on, row.key.toLowerCase(), place, row.mods, row.shift].join("|");
      assert.ok(!seen.has(id), `${id} is bound twice`);
      seen.set(id, row);
    }
  }
});

test("every row names an action and says where it works", () => {
  for (const row of KEY_BINDINGS) {
    assert.ok(["keydown", "keyup"].includes(row.on));
    assert.ok(row.where.length > 0 && typeof row.does === "string" && row.does);
    assert.ok(["none", "ctrl", "any"].includes(row.mods));
  }
});

test("an arrow moves the brush 8 screen pixels, 40 with Shift, and stays inside the picture", () => {
  assert.equal(keyStep(false, 2), 16);
  assert.equal(keyStep(true, 0.5), 20);
  assert.equal(keyStep(false, 0.01), 1);
  assert.deepEqual(movedCursor([5, 5], [-1, 0], 16, 100, 80), [0, 5]);
  assert.deepEqual(movedCursor([90, 75], [0, 1], 16, 100, 80), [90, 80]);
});

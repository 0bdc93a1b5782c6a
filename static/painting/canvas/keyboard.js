// The keyboard: every key binding is a row of KEY_BINDINGS, read by one keydown and one keyup
// listener. On the focused canvas the arrow keys move a brush cursor, Space held paints along
// the way (Shift+Space erases); anywhere, Space held makes a drag pan, Ctrl+Z / Ctrl+Shift+Z /
// Ctrl+Y undo and redo, P E H R C choose a tool, [ and ] change the brush size.
import { state, tool } from "./state.js";
import { startStroke, extendStroke, finishStroke } from "./mask.js";
import { tapRegion } from "./regions.js";
import { undo, redo } from "./history.js";
import { keepInView } from "./view.js";
import { showCursor, stepSize, chooseTool } from "./brush.js";

// Where the key was pressed (context.target): "canvas" (it has the focus), "text" (a text
// field or a menu, which keeps its keys), "control" (another field or a button), "other".
const BEYOND_TEXT = ["canvas", "control", "other"];
const ANYWHERE = ["canvas", "text", "control", "other"];

// key: event.key (any case); on: keydown or keyup; where: the targets it works in;
// mods: "none" (no Ctrl, Cmd or Alt), "ctrl" (Ctrl or Cmd) or "any"; shift: true or false when
// it matters; when: a further condition on the context; does: the action, with `arg`;
// preventDefault: the browser does not act on the key too.
export const KEY_BINDINGS = [
  { key: "ArrowLeft", on: "keydown", where: ["canvas"], mods: "none", does: "moveBrush", arg: [-1, 0], preventDefault: true },
  { key: "ArrowRight", on: "keydown", where: ["canvas"], mods: "none", does: "moveBrush", arg: [1, 0], preventDefault: true },
  { key: "ArrowUp", on: "keydown", where: ["canvas"], mods: "none", does: "moveBrush", arg: [0, -1], preventDefault: true },
  { key: "ArrowDown", on: "keydown", where: ["canvas"], mods: "none", does: "moveBrush", arg: [0, 1], preventDefault: true },
  { key: " ", on: "keydown", where: ["canvas"], mods: "none", when: (c) => c.brushByKeys && c.tool !== "pan", does: "brushDown", preventDefault: true },
  { key: " ", on: "keyup", where: ["canvas"], mods: "any", does: "brushUp" },
  { key: " ", on: "keydown", where: ["canvas", "other"], mods: "any", when: (c) => c.target !== "canvas" || !c.brushByKeys, does: "panReady" },
  { key: " ", on: "keyup", where: ANYWHERE, mods: "any", does: "panDone" },
  { key: "z", on: "keydown", where: BEYOND_TEXT, mods: "ctrl", shift: false, does: "undo", preventDefault: true },
  { key: "z", on: "keydown", where: BEYOND_TEXT, mods: "ctrl", shift: true, does: "redo", preventDefault: true },
  { key: "y", on: "keydown", where: BEYOND_TEXT, mods: "ctrl", does: "redo", preventDefault: true },
  { key: "p", on: "keydown", where: BEYOND_TEXT, mods: "none", does: "chooseTool", arg: "paint" },
  { key: "e", on: "keydown", where: BEYOND_TEXT, mods: "none", does: "chooseTool", arg: "erase" },
  { key: "h", on: "keydown", where: BEYOND_TEXT, mods: "none", does: "chooseTool", arg: "pan" },
  { key: "r", on: "keydown", where: BEYOND_TEXT, mods: "none", does: "chooseTool", arg: "region" },
  { key: "c", on: "keydown", where: BEYOND_TEXT, mods: "none", does: "chooseTool", arg: "crop" },
  { key: "[", on: "keydown", where: BEYOND_TEXT, mods: "none", does: "stepSize", arg: -1, preventDefault: true },
  { key: "]", on: "keydown", where: BEYOND_TEXT, mods: "none", does: "stepSize", arg: 1, preventDefault: true },
];

// ---- Pure ----------------------------------------------------------------------------------

function modsMatch(row, event) {
  const ctrl = event.ctrlKey || event.metaKey;
  if (row.mods === "none" && (ctrl || event.altKey)) return false;
  if (row.mods === "ctrl" && !ctrl) return false;
  return row.shift === undefined || row.shift === event.shiftKey;
}

// Does this row take this key event? context: { target, brushByKeys, tool } (see above).
export function matches(row, event, context) {
  return (
    row.on === event.type &&
    row.key.toLowerCase() === event.key.toLowerCase() &&
    row.where.includes(context.target) &&
    modsMatch(row, event) &&
    (!row.when || row.when(context))
  );
}

// Every row that takes the event, in the table's order.
export function bindingsFor(event, context, table = KEY_BINDINGS) {
  return table.filter((row) => matches(row, event, context));
}

// How far one arrow key moves the brush, in the picture's pixels (`s` per screen pixel).
export function keyStep(shiftKey, s) {
  return Math.max(1, Math.round((shiftKey ? 40 : 8) * s));
}

// The brush cursor moved by one arrow key, kept inside the picture.
export function movedCursor(from, direction, step, width, height) {
  return [
    Math.min(width, Math.max(0, from[0] + direction[0] * step)),
    Math.min(height, Math.max(0, from[1] + direction[1] * step)),
  ];
}

// ---- The page ------------------------------------------------------------------------------

function centre() {
  const { canvas } = state.el;
  return [Math.round(canvas.width / 2), Math.round(canvas.height / 2)];
}

function keyboardStroke() {
  return state.stroke && state.stroke.pointer === "keyboard";
}

const ACTIONS = {
  moveBrush(event, direction) {
    const { canvas } = state.el;
    const step = keyStep(event.shiftKey, canvas.width / canvas.getBoundingClientRect().width);
    const from = state.cursorAt || [canvas.width / 2, canvas.height / 2];
    state.cursorAt = movedCursor(from, direction, step, canvas.width, canvas.height);
    state.cursorByKeys = true;
    if (keyboardStroke() && state.stroke.type === "stroke") extendStroke(state.cursorAt);
    keepInView();
    showCursor();
  },
  brushDown(event) {
    if (event.repeat || state.stroke || state.closed) return;
    if (!state.cursorAt) state.cursorAt = centre();
    if (tool() === "region") {
      if (tapRegion(state.cursorAt.slice(), "keyboard", null, event.shiftKey)) finishStroke();
    } else {
      startStroke(state.cursorAt.slice(), "keyboard", null, event.shiftKey);
    }
  },
  brushUp() {
    if (keyboardStroke()) finishStroke();
  },
  // Space held anywhere but in a field: a drag pans (when the keyboard brush is not in use).
  panReady(event) {
    state.spaceHeld = true;
    // Over the picture, Space pans instead of scrolling the page.
    if (state.cursorAt && !state.cursorByKeys) event.preventDefault();
    state.el.stage.classList.add("pan-ready");
  },
  panDone() {
    state.spaceHeld = false;
    state.el.stage.classList.remove("pan-ready");
  },
  undo: () => undo(),
  redo: () => redo(),
  chooseTool: (event, name) => chooseTool(name),
  stepSize: (event, direction) => stepSize(direction),
};

function targetKind(target) {
  if (target === state.el.canvas) return "canvas";
  if (!target.matches) return "other";
  if (target.matches("input[type=text], textarea, select")) return "text";
  if (target.matches("input, button")) return "control";
  return "other";
}

function onKey(event) {
  if (typeof event.key !== "string") return; // a browser's autofill sends keydowns without a key
  for (const row of KEY_BINDINGS) {
    // The context is read for each row: an action may change it for the rows after it.
    const context = {
      target: targetKind(event.target),
      brushByKeys: state.cursorByKeys,
      get tool() { return tool(); },
    };
    if (!matches(row, event, context)) continue;
    if (row.preventDefault) event.preventDefault();
    ACTIONS[row.does](event, row.arg);
  }
}

export function listenForKeys() {
  const { canvas } = state.el;
  document.addEventListener("keydown", onKey);
  document.addEventListener("keyup", onKey);
  canvas.addEventListener("focus", () => {
    if (!canvas.matches(":focus-visible")) return; // a click, not the keyboard
    if (!state.cursorAt) state.cursorAt = centre();
    state.cursorByKeys = true;
    showCursor();
  });
  canvas.addEventListener("blur", () => {
    if (keyboardStroke()) finishStroke();
    if (state.cursorByKeys) {
      state.cursorAt = null;
      showCursor();
    }
  });
}

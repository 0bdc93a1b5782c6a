// History: undo, redo, clear and restoring a past round's mask. Every change of the mask is an
// operation ({ type: "stroke" | "region" | "clear" | "restore", ... }) kept in one history;
// undo and redo replay the operations from the base, so none of them needs a special case.
import { state, log, on } from "./state.js";
import { apply, paintedFraction, maskTouched } from "./mask.js";
import { showPreview } from "./preview.js";
import { encodeMaskWhenIdle } from "./submit.js";
import { wantLive } from "./live.js";
import { showConnectionError } from "./page.js";
import { restoreEdits } from "./edits.js";
import { keepDraft, restoreDraft } from "./draft.js";

// ---- Pure: the two stacks -----------------------------------------------------------------

// A new operation: it can be undone, and nothing undone before it can be redone any more.
export function record(history, op) {
  history.done.push(op);
  history.undone.length = 0;
}

// The operation undone (the canvas is then redrawn without it), or null when none is left.
export function takeUndo(history) {
  if (!history.done.length) return null;
  const op = history.done.pop();
  history.undone.push(op);
  return op;
}

// The operation redone (drawn again on top), or null when none is left.
export function takeRedo(history) {
  if (!history.undone.length) return null;
  const op = history.undone.pop();
  history.done.push(op);
  return op;
}

// The operations that make the canvas, in order: the base, then everything done.
export function replayed(history) {
  return history.base ? [history.base, ...history.done] : [...history.done];
}

// ---- The page ------------------------------------------------------------------------------

export function redraw() {
  const { canvas, ctx } = state.el;
  maskTouched();
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  replayed(state.history).forEach(apply);
}

export function commit(op) {
  record(state.history, op);
  changed();
}

// After every change of the mask: the buttons, the painted share, the preview, the encode.
export function changed() {
  const { stage, undoButton, redoButton, paintedOutput } = state.el;
  undoButton.disabled = state.history.done.length === 0;
  redoButton.disabled = state.history.undone.length === 0;
  paintedOutput.value = (paintedFraction() * 100).toFixed(1) + "%";
  stage.dataset.painted = paintedOutput.value;
  showPreview();
  encodeMaskWhenIdle();
  keepDraft();
}

export function undo() {
  if (!takeUndo(state.history)) return;
  redraw();
  changed();
  log({ type: "undo" });
  wantLive();
}

export function redo() {
  const op = takeRedo(state.history);
  if (!op) return;
  apply(op);
  changed();
  log({ type: "redo" });
  wantLive();
}

export function clear() {
  const op = { type: "clear" };
  apply(op); // before commit(), which measures the painted share
  commit(op);
  log({ type: "clear" });
  wantLive();
}

// A round restored to the canvas: the canvas gets the focus, to go on painting from it.
export function restore(url) {
  const { canvas } = state.el;
  if (!url) {
    commit({ type: "restore", image: null });
    redraw();
    changed();
    log({ type: "restore", mask: null });
    canvas.focus();
    return;
  }
  const image = new Image();
  image.onload = () => {
    commit({ type: "restore", image: image });
    redraw();
    changed();
    log({ type: "restore", mask: url });
    canvas.focus();
  };
  image.src = url;
}

// The mask of the round on screen (the latest) is the starting state, as if restored from
// the history: the same painted %, nothing to undo, and a restore event in the brush log;
// then the draft painted over it since, if a reload came before its Classify. Classify waits
// for both, so a reload never sends an empty canvas by mistake.
export function start(url) {
  const { submitButton } = state.el;
  if (!url) {
    ready();
    return;
  }
  if (submitButton) submitButton.disabled = true;
  const image = new Image();
  image.onload = () => {
    state.history.base = { type: "restore", image: image };
    redraw();
    changed();
    log({ type: "restore", mask: url, source: "load" });
    ready();
  };
  image.onerror = () => {
    showConnectionError("The last round's mask could not be loaded; the canvas starts empty.");
    ready();
  };
  image.src = url;
}

// Ready once the draft not yet classified (draft.js), if any, is back on the canvas.
function ready() {
  restoreDraft(() => {
    redraw();
    changed();
    if (state.el.submitButton) state.el.submitButton.disabled = false;
    state.el.stage.dataset.ready = "true";
  });
}

export function setUpHistory() {
  const { root, undoButton, redoButton } = state.el;
  on("commit", commit); // a stroke or tap ended (mask.js)
  on("redraw", redraw); // a stroke dropped (mask.js)
  undoButton.addEventListener("click", undo);
  redoButton.addEventListener("click", redo);
  root.querySelector("[data-clear]").addEventListener("click", clear);
  document.addEventListener("click", (event) => {
    const item = event.target.closest("[data-restore-mask]");
    if (!item) return;
    restore(item.dataset.restoreMask);
    restoreEdits(item.dataset.restoreEdits);
  });
}

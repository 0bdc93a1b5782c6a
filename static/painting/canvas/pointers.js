// Pointers (mouse, pen, touch) on the canvas: one stroke at a time, from the primary pointer;
// two fingers zoom and pan and never paint; the tool chosen says what a drag does.
import { state, tool } from "./state.js";
import { point, startStroke, extendStroke, finishStroke, dropStroke } from "./mask.js";
import { tapRegion } from "./regions.js";
import { startCrop, dragCrop, finishCrop } from "./edits.js";
import { startPinch, movePinch, startPan, movePan, endPan, logView } from "./view.js";
import { showCursor } from "./brush.js";

// A resting palm or a second finger neither starts another stroke nor joins this one.
function ours(event) {
  return state.stroke !== null && event.pointerId === state.stroke.pointerId;
}

function down(event) {
  const { canvas } = state.el;
  if (event.pointerType === "touch") {
    state.touches.set(event.pointerId, [event.clientX, event.clientY]);
    if (state.touches.size === 2) {
      dropStroke();
      state.pan = null;
      startPinch();
      return;
    }
    if (state.touches.size > 2 || state.gesture) return;
  }
  if (state.stroke || state.pan || !event.isPrimary) return;
  const middleButton = event.pointerType === "mouse" && event.button === 1;
  if (event.button !== 0 && event.pointerType === "mouse" && !middleButton) return;
  event.preventDefault();
  try { canvas.setPointerCapture(event.pointerId); } catch (e) { /* synthetic pointers */ }
  if (tool() === "pan" || state.spaceHeld || middleButton) {
    startPan(event);
    return;
  }
  state.cursorByKeys = false;
  if (state.closed) return; // the view still moves; nothing is painted
  if (tool() === "crop") startCrop(point(event), event.pointerId);
  else if (tool() === "region") tapRegion(point(event), event.pointerType, event.pointerId, event.shiftKey);
  else startStroke(point(event), event.pointerType, event.pointerId, false);
}

function move(event) {
  if (state.touches.has(event.pointerId)) state.touches.set(event.pointerId, [event.clientX, event.clientY]);
  if (state.gesture) {
    if (state.touches.size === 2) movePinch();
    return;
  }
  if (state.pan && event.pointerId === state.pan.pointerId) {
    movePan(event);
    return;
  }
  if (state.cropDrag && event.pointerId === state.cropDrag.pointerId) {
    dragCrop(point(event));
    return;
  }
  if (event.pointerType !== "touch") {
    state.cursorAt = point(event);
    state.cursorByKeys = false;
    showCursor();
  }
  if (!ours(event) || state.stroke.type === "region") return;
  const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const each of moves.length ? moves : [event]) extendStroke(point(each));
}

function leave(event) {
  if (event.pointerType !== "touch" && !state.cursorByKeys) {
    state.cursorAt = null;
    showCursor();
  }
}

function end(event) {
  state.touches.delete(event.pointerId);
  if (state.gesture) {
    // Until every finger is up, a finger left on the glass neither paints nor pans.
    if (state.touches.size === 0) {
      state.gesture = null;
      logView();
    }
    return;
  }
  if (state.pan && event.pointerId === state.pan.pointerId) {
    endPan();
    return;
  }
  if (state.cropDrag && event.pointerId === state.cropDrag.pointerId) {
    finishCrop(event.type === "pointerup" ? point(event) : null);
    return;
  }
  if (ours(event)) finishStroke();
}

export function listenForPointers() {
  const { canvas } = state.el;
  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerleave", leave);
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
}

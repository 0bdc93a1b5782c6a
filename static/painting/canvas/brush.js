// The brush and the tools: the brush's size (screen pixels, remembered per tool) and its
// outline where it would paint, and choosing a tool.
import { state, tool, paintTool, log, on } from "./state.js";
import { stagePoint } from "./view.js";
import { loadRegions, showBoundaries } from "./regions.js";

export const BRUSH_STEPS = [4, 6, 8, 12, 16, 24, 32, 48, 64, 80, 96, 120];
const SIZES_KEY = "painting.brushSizes";

// ---- Pure ----------------------------------------------------------------------------------

// The next size of BRUSH_STEPS up (direction > 0) or down from `now`, or null at the end.
export function nextSize(now, direction) {
  const steps = direction > 0 ? BRUSH_STEPS.filter((v) => v > now) : BRUSH_STEPS.filter((v) => v < now).reverse();
  return steps.length ? steps[0] : null;
}

// The sizes remembered (JSON text, maybe absent or not ours), each kept inside [min, max].
export function rememberedSizes(text, fallback, min, max) {
  const sizes = { paint: fallback, erase: fallback };
  try {
    const stored = JSON.parse(text || "{}");
    for (const name of ["paint", "erase"]) {
      if (Number(stored[name]) >= min && Number(stored[name]) <= max) sizes[name] = Number(stored[name]);
    }
  } catch (e) { /* not ours: the defaults */ }
  return sizes;
}

// What the chosen tool does, in one line: on a touch screen in taps and fingers, with no keys.
export function toolHint(name, touch) {
  const hints = {
    paint: touch
      ? "Paint with a finger over what you think does not matter."
      : "Drag to paint over what you think does not matter; [ and ] change the brush.",
    erase: touch ? "Rub paint away with a finger." : "Drag to rub paint away.",
    region: touch
      ? "Tap a region to paint all of it; tap it again to clear it."
      : "Click a region to paint all of it; click it again to clear it (Shift+click erases).",
    pan: touch
      ? "Drag to move the view; two fingers pinch to zoom."
      : "Drag to move the view (Space+drag does it with any tool).",
    crop: touch
      ? "Drag a rectangle: the model gets only what is inside it (a tap removes the crop)."
      : "Drag a rectangle: the model gets only what is inside it (a click removes the crop).",
  };
  return hints[name] || "";
}

// ---- The page ------------------------------------------------------------------------------

function showHint(name) {
  const hint = state.el.root.querySelector("[data-tool-hint]");
  if (hint) hint.textContent = toolHint(name, window.matchMedia("(pointer: coarse)").matches);
}

export function loadSizes() {
  const { brush } = state.el;
  let text = null;
  try { text = localStorage.getItem(SIZES_KEY); } catch (e) { /* no storage: the defaults */ }
  state.sizes = rememberedSizes(text, Number(brush.value), Number(brush.min), Number(brush.max));
}

function showSize(value) {
  state.el.brush.value = String(value);
  state.el.brushOutput.value = state.el.brush.value;
}

export function setSize(value) {
  const { brush } = state.el;
  value = Math.min(Number(brush.max), Math.max(Number(brush.min), Math.round(value)));
  showSize(value);
  state.sizes[paintTool()] = value;
  try { localStorage.setItem(SIZES_KEY, JSON.stringify(state.sizes)); } catch (e) { /* none */ }
  showCursor();
}

export function stepSize(direction) {
  const next = nextSize(Number(state.el.brush.value), direction);
  if (next !== null) setSize(next);
}

export function showCursor() {
  const { canvas, cursor, brush } = state.el;
  const cursorAt = state.cursorAt;
  const chosen = cursorAt ? tool() : null;
  if (!cursorAt || chosen === "pan" || chosen === "crop" || (chosen === "region" && !state.cursorByKeys)) {
    cursor.hidden = true;
    return;
  }
  const rect = canvas.getBoundingClientRect();
  const [left, top] = stagePoint(rect.left, rect.top);
  const s = rect.width / canvas.width;
  const d = Number(brush.value);
  cursor.style.width = cursor.style.height = d + "px";
  cursor.style.left = left + cursorAt[0] * s - d / 2 + "px";
  cursor.style.top = top + cursorAt[1] * s - d / 2 + "px";
  cursor.classList.toggle("erase", paintTool() === "erase");
  cursor.classList.toggle("keys", state.cursorByKeys);
  cursor.hidden = false;
}

// Click a tool's radio button (the keys do this too).
export function chooseTool(name) {
  state.el.root.querySelector(`[data-tool][value=${name}]`)?.click();
}

function toolChosen(name) {
  log({ type: "tool", tool: name });
  showBoundaries(name);
  if (name === "region") loadRegions();
  if (name === "paint" || name === "erase") showSize(state.sizes[name]);
  state.el.stage.classList.toggle("pan-tool", name === "pan");
  showHint(name);
  showCursor();
}

export function setUpBrush() {
  const { root, brush } = state.el;
  on("view", showCursor); // zoomed or panned (view.js): the outline follows
  loadSizes();
  brush.addEventListener("input", () => setSize(Number(brush.value)));
  root.querySelectorAll("[data-tool]").forEach((radio) =>
    radio.addEventListener("change", () => toolChosen(radio.value)));
}

// On load (a reload may keep the tool chosen): its size, outlines and cursor.
export function showTool() {
  showSize(state.sizes[paintTool()]);
  showBoundaries(tool());
  state.el.stage.classList.toggle("pan-tool", tool() === "pan");
  showHint(tool());
}

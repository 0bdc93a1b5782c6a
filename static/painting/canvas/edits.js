// Edits of the whole picture: a crop, flips, a quarter turn (painting/edits.py). The mask stays
// in the original picture's pixels; the crop is dragged on it. The edits apply to the composed
// picture in edits.py's order: crop, flip left–right, flip top–bottom, turn clockwise. Flip
// buttons mirror what the model would get now, so after a turn a flip is recorded as the flip
// and the opposite turn (mirroring reverses turns).
import { state, log, emit } from "./state.js";
import { wantLive } from "./live.js";

export const NO_EDITS = { crop: null, flipH: false, flipV: false, rotation: 0 };

// ---- Pure: edits = { crop: [left, top, width, height] | null, flipH, flipV, rotation } -----

export function hasEdits(e) {
  return Boolean(e.crop) || e.flipH || e.flipV || e.rotation !== 0;
}

// One way to write each edit: both mirrors are a half turn.
export function normalise(e) {
  if (e.flipH && e.flipV) return { ...e, flipH: false, flipV: false, rotation: (e.rotation + 180) % 360 };
  return e;
}

export function rotated(e) {
  return normalise({ ...e, rotation: (e.rotation + 90) % 360 });
}

export function flippedHorizontally(e) {
  return normalise({ ...e, flipH: !e.flipH, rotation: (360 - e.rotation) % 360 });
}

export function flippedVertically(e) {
  return normalise({ ...e, flipV: !e.flipV, rotation: (360 - e.rotation) % 360 });
}

// The same words as edits.Edits.describe().
export function describeEdits(e) {
  const parts = [];
  if (e.crop) parts.push(`cropped to ${e.crop[2]}×${e.crop[3]} at (${e.crop[0]}, ${e.crop[1]})`);
  if (e.flipH) parts.push("flipped left–right");
  if (e.flipV) parts.push("flipped top–bottom");
  if (e.rotation) parts.push(`rotated ${e.rotation}° clockwise`);
  const text = parts.join(", ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// The edits as the form's hidden inputs hold them (crop "l,t,w,h", flips "1" or "").
export function editsFromFields(values) {
  const crop = values.crop ? values.crop.split(",").map(Number) : null;
  return {
    crop: crop && crop.length === 4 ? crop : null,
    flipH: values.flip_horizontal === "1",
    flipV: values.flip_vertical === "1",
    rotation: Number(values.rotation) || 0,
  };
}

export function editsToFields(e) {
  return {
    crop: e.crop ? e.crop.join(",") : "",
    flip_horizontal: e.flipH ? "1" : "",
    flip_vertical: e.flipV ? "1" : "",
    rotation: String(e.rotation),
  };
}

// A past round's edits, as its history item carries them: "crop;flipH;flipV;rotation".
export function editsFromHistory(text) {
  const [crop, flipH, flipV, rotation] = (text || ";;;0").split(";");
  const parsed = crop ? crop.split(",").map(Number) : null;
  return { crop: parsed, flipH: flipH === "1", flipV: flipV === "1", rotation: Number(rotation) || 0 };
}

// The rectangle between two points, in whole pixels inside a picture of width × height.
export function cropBetween(a, b, width, height) {
  const clampX = (v) => Math.min(width, Math.max(0, Math.round(v)));
  const clampY = (v) => Math.min(height, Math.max(0, Math.round(v)));
  const [x0, x1] = [clampX(a[0]), clampX(b[0])].sort((p, q) => p - q);
  const [y0, y1] = [clampY(a[1]), clampY(b[1])].sort((p, q) => p - q);
  return [x0, y0, x1 - x0, y1 - y0];
}

// A drag crops; a click (a rectangle under 4 pixels) removes the crop.
export function keptCrop(crop) {
  return crop[2] >= 4 && crop[3] >= 4 ? crop : null;
}

// The picture's pixels ({ width, height, data: RGBA }) with the edits applied, as
// edits.Edits.apply() does.
export function editedPixels(src, e) {
  const [cl, ct, cw, ch] = e.crop || [0, 0, src.width, src.height];
  const turned = e.rotation === 90 || e.rotation === 270;
  const ow = turned ? ch : cw;
  const oh = turned ? cw : ch;
  const s = src.data;
  const d = new Uint8ClampedArray(ow * oh * 4);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      // The output pixel's place in the flipped crop, before the clockwise turn.
      let u = x;
      let v = y;
      if (e.rotation === 90) { u = y; v = ch - 1 - x; }
      else if (e.rotation === 180) { u = cw - 1 - x; v = ch - 1 - y; }
      else if (e.rotation === 270) { u = cw - 1 - y; v = x; }
      if (e.flipH) u = cw - 1 - u;
      if (e.flipV) v = ch - 1 - v;
      const i = ((ct + v) * src.width + (cl + u)) * 4;
      const o = (y * ow + x) * 4;
      d[o] = s[i]; d[o + 1] = s[i + 1]; d[o + 2] = s[i + 2]; d[o + 3] = s[i + 3];
    }
  }
  return { width: ow, height: oh, data: d };
}

// ---- The page ------------------------------------------------------------------------------

// The form's values of the edits (sent with a Classify and a preview).
export function editFields() {
  return Object.values(state.el.editInputs);
}

export function showEdits() {
  const { stage, editInputs, editsOutput } = state.el;
  const fields = editsToFields(state.edits);
  for (const [name, value] of Object.entries(fields)) editInputs[name].value = value;
  stage.dataset.edits = hasEdits(state.edits) ? "Edits: " + describeEdits(state.edits) : "No edits";
  if (editsOutput) editsOutput.value = stage.dataset.edits;
  drawCropBox(state.edits.crop);
  showCropGuide(state.edits.crop);
}

function edit(next, event) {
  state.edits = normalise(next);
  log({ type: "edit", ...event });
  showEdits();
  emit("edited");
  wantLive();
}

function drawCropBox(crop) {
  const { canvas, cropBox } = state.el;
  cropBox.hidden = !crop;
  if (!crop) return;
  cropBox.style.left = (100 * crop[0] / canvas.width) + "%";
  cropBox.style.top = (100 * crop[1] / canvas.height) + "%";
  cropBox.style.width = (100 * crop[2] / canvas.width) + "%";
  cropBox.style.height = (100 * crop[3] / canvas.height) + "%";
}

// Outline the centred square the model crops to (its short side × crop fraction), of the
// picture or of the person's crop (flips and turns keep a centred square where it was).
function showCropGuide(crop) {
  const { stage, canvas, root } = state.el;
  const [left, top, width, height] = crop || [0, 0, canvas.width, canvas.height];
  const fraction = Number(stage.dataset.crop || 1);
  const side = Math.min(width, height) * fraction;
  const guide = stage.querySelector("[data-crop-guide]");
  // A detector sees the whole picture (data-crop="whole"): no square to show.
  const shown = stage.dataset.crop !== "whole" && side < Math.max(width, height) * 0.995;
  guide.hidden = !shown;
  root.querySelector("[data-crop-note]").hidden = !shown;
  if (!shown) return;
  guide.style.width = (100 * side / canvas.width) + "%";
  guide.style.height = (100 * side / canvas.height) + "%";
  guide.style.left = (100 * (left + (width - side) / 2) / canvas.width) + "%";
  guide.style.top = (100 * (top + (height - side) / 2) / canvas.height) + "%";
}

function cropTo(at) {
  return cropBetween(state.cropDrag.from, at, state.el.canvas.width, state.el.canvas.height);
}

export function startCrop(at, pointerId) {
  state.cropDrag = { pointerId: pointerId, from: at };
  drawCropBox(cropTo(at));
}

export function dragCrop(at) {
  drawCropBox(cropTo(at));
}

// A drag crops; a click removes the crop; a cancel (no point) keeps it.
export function finishCrop(at) {
  if (!at) {
    state.cropDrag = null;
    drawCropBox(state.edits.crop);
    return;
  }
  const kept = keptCrop(cropTo(at));
  state.cropDrag = null;
  edit({ ...state.edits, crop: kept }, { edit: "crop", crop: kept ? kept.join(",") : "" });
}

// A past round's edits (its history item's data-restore-edits).
export function restoreEdits(text) {
  const next = editsFromHistory(text);
  if (JSON.stringify(next) === JSON.stringify(state.edits)) return;
  state.edits = next;
  log({ type: "edit", edit: "restore", crop: next.crop ? (text || "").split(";")[0] : "" });
  showEdits();
  emit("edited");
}

export function setUpEdits() {
  const { root, editInputs } = state.el;
  state.edits = editsFromFields(Object.fromEntries(
    Object.entries(editInputs).map(([name, input]) => [name, input.value])));
  // A study condition without edits has none of these controls (nor the Crop tool).
  root.querySelector("[data-rotate]")?.addEventListener("click", () =>
    edit(rotated(state.edits), { edit: "rotate" }));
  root.querySelector("[data-flip-horizontal]")?.addEventListener("click", () =>
    edit(flippedHorizontally(state.edits), { edit: "flip_horizontal" }));
  root.querySelector("[data-flip-vertical]")?.addEventListener("click", () =>
    edit(flippedVertically(state.edits), { edit: "flip_vertical" }));
  root.querySelector("[data-reset-edits]")?.addEventListener("click", () =>
    edit({ ...NO_EDITS }, { edit: "reset" }));
}

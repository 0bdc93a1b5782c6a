// The detect task: the result's boxes drawn over the picture (inside the view, so they zoom and
// pan with it), the threshold slider that shows and hides boxes and the result's lines at once
// (and keeps the threshold on the server), and a tap on a box's label to follow that object.
// The boxes come with each result (#detection-data, in the original picture's pixels).
import { state } from "./state.js";
import { showConnectionError } from "./page.js";

const VIEW_TRIES = 6; // D-RISE takes some seconds on the analysis worker: asked again meanwhile

// Pure: the boxes worth drawing at a threshold (the followed one always, so it can be watched
// fading), the followed one last (on top).
export function visibleBoxes(boxes, threshold, followed = null) {
  return boxes
    .filter((box) => box.score >= threshold || box.id === followed)
    .sort((a, b) => (a.id === followed) - (b.id === followed) || b.score - a.score);
}

// Pure: a box as CSS percentages of the picture.
export function boxPlacement(box, width, height) {
  const [x0, y0, x1, y1] = box.box;
  const pct = (v, of) => `${(100 * v / of).toFixed(3)}%`;
  return { left: pct(x0, width), top: pct(y0, height), width: pct(x1 - x0, width), height: pct(y1 - y0, height) };
}

// Pure: one colour per object id, the same in every round (golden-angle hues).
export function hueOf(id) {
  return Math.round((id * 137.508) % 360);
}

// Pure: whether a line of the result is worth showing at a threshold (as the server decides
// first: above it now, or before).
export function lineShown(score, before, threshold) {
  return Math.max(score, before) >= threshold;
}

function readData() {
  const script = document.getElementById("detection-data");
  return script ? JSON.parse(script.textContent) : null;
}

function draw() {
  const { layer, picture, toggle, slider } = state.detect;
  const data = readData();
  layer.replaceChildren();
  if (!data || !toggle.checked) return;
  const threshold = Number(slider.value);
  for (const box of visibleBoxes(data.boxes, threshold, data.followed)) {
    const el = document.createElement("div");
    el.className = "detection-box" + (box.id === data.followed ? " followed" : "");
    el.dataset.box = box.id;
    el.style.setProperty("--hue", hueOf(box.id));
    const height = picture.naturalHeight || picture.height;
    Object.assign(el.style, boxPlacement(box, picture.naturalWidth || picture.width, height));
    // A box at the top edge carries its label inside, where the stage does not cut it off.
    if (box.box[1] < 0.08 * height) el.classList.add("at-top");
    const label = document.createElement("button");
    label.type = "button";
    label.className = "detection-label";
    label.textContent = `${box.label} ${box.score.toFixed(2)}`;
    label.title = box.id === data.followed ? "You follow this object" : `Follow this ${box.label}`;
    label.setAttribute("aria-label", `${label.title}: ${label.textContent}`);
    label.addEventListener("click", () => follow(box.id));
    el.append(label);
    layer.append(el);
  }
}

// The result's own Follow button for the object does the request (htmx), so both ways are one.
function follow(id) {
  const button = document.querySelector(`#result [data-follow="${id}"]`);
  if (button) button.click();
}

function filterLines() {
  const threshold = Number(state.detect.slider.value);
  const lines = document.querySelectorAll("#result [data-detection-list] li[data-object]");
  let shown = 0;
  lines.forEach((line) => {
    const visible = lineShown(Number(line.dataset.score), Number(line.dataset.before), threshold);
    line.hidden = !visible;
    shown += visible;
  });
  const nothing = document.querySelector("#result [data-nothing-shown]");
  if (nothing) nothing.hidden = shown > 0;
  document.querySelectorAll("#result [data-swatch]").forEach((swatch) => {
    swatch.style.setProperty("--hue", hueOf(Number(swatch.dataset.swatch)));
  });
}

// "Show where the model looks for it": the followed box's D-RISE map over the picture. It
// stays on from round to round while the same box is followed.
function showBoxView() {
  const { overlay } = state.detect;
  if (!overlay) return;
  const toggle = document.querySelector("#result [data-box-view-toggle]");
  if (!toggle || !state.detect.viewOn) {
    overlay.hidden = true;
    return;
  }
  toggle.checked = true;
  if (overlay.dataset.for !== toggle.dataset.src) {
    overlay.dataset.for = toggle.dataset.src;
    state.detect.viewTries = 0;
    overlay.src = toggle.dataset.src;
  }
  overlay.hidden = false;
}

function boxViewFailed() {
  const { overlay } = state.detect;
  if (state.detect.viewTries < VIEW_TRIES && state.detect.viewOn) {
    state.detect.viewTries += 1;
    setTimeout(() => { overlay.src = `${overlay.dataset.for}?try=${state.detect.viewTries}`; }, 3000);
    return;
  }
  overlay.hidden = true;
  state.detect.viewOn = false;
  const toggle = document.querySelector("#result [data-box-view-toggle]");
  if (toggle) toggle.checked = false;
  showConnectionError("Where the model looks for this box is not ready yet: try again in a moment.");
}

export function setUpDetections() {
  const layer = state.el.stage.querySelector("[data-detection-boxes]");
  const slider = state.el.root.querySelector("[data-threshold]");
  if (!layer || !slider) return;
  const toggle = state.el.root.querySelector("[data-boxes-toggle]");
  const output = state.el.root.querySelector("[data-threshold-output]");
  const overlay = state.el.stage.querySelector("[data-box-view]");
  state.detect = { layer, slider, toggle, overlay, picture: state.el.picture, viewOn: false, viewTries: 0 };
  if (overlay) overlay.addEventListener("error", boxViewFailed);
  document.addEventListener("change", (event) => {
    if (!event.target.matches("[data-box-view-toggle]")) return;
    state.detect.viewOn = event.target.checked;
    showBoxView();
  });
  slider.addEventListener("input", () => {
    output.textContent = Number(slider.value).toFixed(2);
    draw();
    filterLines();
  });
  toggle.addEventListener("change", draw);
  document.body.addEventListener("htmx:afterSettle", () => { draw(); filterLines(); showBoxView(); });
  draw();
  filterLines();
}

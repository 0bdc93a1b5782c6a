// The view: zoom (Ctrl+wheel, pinch, the buttons) and pan (Space+drag, the Pan tool, the middle
// button, two fingers), a CSS transform of everything over the picture. The mask stays at the
// picture's resolution; every point maps back through the transform.
import { state, log, emit } from "./state.js";

export const MAX_ZOOM = 8;

// ---- Pure: view = { zoom, tx, ty } (a translation in stage pixels, then a scale) -------------

function clampZoom(zoom) {
  return Math.min(MAX_ZOOM, Math.max(1, zoom));
}

// Zoom between 1 and MAX_ZOOM, and never a gap between the picture and the stage's edges.
export function clampView(view, w, h) {
  const zoom = clampZoom(view.zoom);
  return {
    zoom,
    tx: Math.min(0, Math.max(w - w * zoom, view.tx)),
    ty: Math.min(0, Math.max(h - h * zoom, view.ty)),
  };
}

// Zoom by `factor` so that the stage's point (sx, sy) keeps what is under it.
export function zoomAround(view, factor, sx, sy) {
  const next = clampZoom(view.zoom * factor);
  return {
    zoom: next,
    tx: sx - ((sx - view.tx) * next) / view.zoom,
    ty: sy - ((sy - view.ty) * next) / view.zoom,
  };
}

// A pinch: the picture's point under the fingers' first middle stays under their middle now.
export function pinchView(gesture, distance, middle) {
  const next = clampZoom(gesture.zoom * (distance / gesture.distance));
  return {
    zoom: next,
    tx: middle[0] - ((gesture.middle[0] - gesture.tx) * next) / gesture.zoom,
    ty: middle[1] - ((gesture.middle[1] - gesture.ty) * next) / gesture.zoom,
  };
}

// Two fingers' points: how far apart they are, and their middle.
export function fingers(a, b) {
  return {
    distance: Math.max(1, Math.hypot(a[0] - b[0], a[1] - b[1])),
    middle: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2],
  };
}

// The CSS transform of a view (none at zoom 1).
export function viewTransform(view) {
  return view.zoom === 1 ? "" : `translate(${view.tx}px, ${view.ty}px) scale(${view.zoom})`;
}

// The view in the brush log: the zoom and the picture's point at the view's top-left corner
// (image pixels; `s` is picture pixels per stage pixel at zoom 1).
export function viewLogEntry(view, s) {
  return {
    type: "view",
    zoom: Math.round(view.zoom * 1000) / 1000,
    x: Math.round((-view.tx / view.zoom) * s),
    y: Math.round((-view.ty / view.zoom) * s),
  };
}

// The wheel's zoom factor (a line is 16 pixels, a page the stage's height).
export function wheelFactor(deltaY, deltaMode, pageHeight) {
  const unit = deltaMode === 1 ? 16 : deltaMode === 2 ? pageHeight : 1;
  return Math.exp(-deltaY * unit * 0.002);
}

// ---- The page ------------------------------------------------------------------------------

export function setView(view) {
  state.view = view;
  applyView();
}

export function applyView() {
  const { stage, view, zoomOutput, zoomIn, zoomOut, fitButton } = state.el;
  state.view = clampView(state.view, stage.clientWidth, stage.clientHeight);
  const zoom = state.view.zoom;
  view.style.transform = viewTransform(state.view);
  stage.dataset.zoom = String(Math.round(zoom * 1000) / 1000);
  zoomOutput.value = Math.round(zoom * 100) + "%";
  zoomOut.disabled = fitButton.disabled = zoom === 1;
  zoomIn.disabled = zoom >= MAX_ZOOM;
  emit("view");
}

export function stagePoint(x, y) {
  const rect = state.el.stage.getBoundingClientRect();
  return [x - rect.left, y - rect.top];
}

// Logged when a zoom or pan ends, not at every step.
export function logView() {
  clearTimeout(state.viewLogTimer);
  state.viewLogTimer = setTimeout(flushView, 250);
}

// A view change still waiting for its timer is logged now (a Classify takes the log).
export function flushView() {
  if (state.viewLogTimer === null) return;
  clearTimeout(state.viewLogTimer);
  state.viewLogTimer = null;
  log(viewLogEntry(state.view, state.el.canvas.width / state.el.stage.clientWidth));
}

function zoomCentre(factor) {
  const { stage } = state.el;
  setView(zoomAround(state.view, factor, stage.clientWidth / 2, stage.clientHeight / 2));
  logView();
}

// Two fingers down: a pinch begins (their positions are in state.touches).
function twoFingers() {
  const [a, b] = [...state.touches.values()];
  const now = fingers(a, b);
  return { distance: now.distance, middle: stagePoint(...now.middle) };
}

export function startPinch() {
  const now = twoFingers();
  state.gesture = { distance: now.distance, middle: now.middle, ...state.view };
}

export function movePinch() {
  const now = twoFingers();
  setView(pinchView(state.gesture, now.distance, now.middle));
}

export function startPan(event) {
  const { tx, ty } = state.view;
  state.pan = { pointerId: event.pointerId, x: event.clientX, y: event.clientY, tx, ty };
  state.el.stage.classList.add("panning");
}

export function movePan(event) {
  const { pan } = state;
  setView({ zoom: state.view.zoom, tx: pan.tx + event.clientX - pan.x, ty: pan.ty + event.clientY - pan.y });
}

export function endPan() {
  state.pan = null;
  state.el.stage.classList.remove("panning");
  logView();
}

// A keyboard brush walking off the zoomed view brings the view along.
export function keepInView() {
  const { canvas, stage, brush } = state.el;
  if (state.view.zoom === 1 || !state.cursorAt) return;
  const rect = canvas.getBoundingClientRect();
  const s = rect.width / canvas.width;
  const [x, y] = stagePoint(rect.left + state.cursorAt[0] * s, rect.top + state.cursorAt[1] * s);
  const margin = Number(brush.value);
  let { tx, ty } = state.view;
  if (x < margin) tx += margin - x;
  if (x > stage.clientWidth - margin) tx -= x - (stage.clientWidth - margin);
  if (y < margin) ty += margin - y;
  if (y > stage.clientHeight - margin) ty -= y - (stage.clientHeight - margin);
  setView({ zoom: state.view.zoom, tx, ty });
}

export function listenForView() {
  const { stage, zoomIn, zoomOut, fitButton } = state.el;
  stage.addEventListener("wheel", (event) => {
    // A plain wheel scrolls the page; Ctrl (or a trackpad pinch, which Chromium and Firefox
    // send as a wheel with ctrlKey) zooms around the pointer.
    if (!event.ctrlKey && !event.metaKey) return;
    event.preventDefault();
    const factor = wheelFactor(event.deltaY, event.deltaMode, stage.clientHeight);
    setView(zoomAround(state.view, factor, ...stagePoint(event.clientX, event.clientY)));
    logView();
  }, { passive: false });
  zoomIn.addEventListener("click", () => zoomCentre(1.5));
  zoomOut.addEventListener("click", () => zoomCentre(1 / 1.5));
  fitButton.addEventListener("click", () => {
    setView({ zoom: 1, tx: 0, ty: 0 });
    logView();
  });
  window.addEventListener("resize", applyView);
}

// The one state of the painting page: every module reads and writes this object, and nothing
// else is shared between them. page() fills `el` once, from the stage the page shows.

export const state = {
  el: null, // the page's elements, found once (findElements)
  closed: false, // the image takes no more (the study is over, time is up, or Next went on)

  // The mask: every change is an operation; undo/redo replay them from the base (blank, or the
  // mask the page was loaded with; undo never goes below it).
  history: { base: null, done: [], undone: [] },
  stroke: null, // the stroke or region tap under way
  maskVersion: 0, // bumped by every write to the canvas (maskTouched)
  encodedMask: null, // { version, width, height, file }: encoded while the canvas rested

  // The brush log sent with the next Classify, and when its round began.
  events: [],
  roundStart: performance.now(),

  // The brush: sizes in screen pixels, remembered per tool; where its outline is shown.
  sizes: { paint: 0, erase: 0 },
  cursorAt: null, // [x, y] in the picture's pixels, or null when no pointer is over the canvas
  cursorByKeys: false,

  // Regions: SLIC superpixels, { labels, boxes, w, h } once loaded.
  regions: null,
  regionsLoading: null,
  regionTries: 0,
  retryRegions: null,

  // The view: zoom and pan (a CSS transform of everything over the picture).
  view: { zoom: 1, tx: 0, ty: 0 },
  viewLogTimer: null,

  // Pointers: touch pointers down (id -> [clientX, clientY]), a pinch, a pan, Space held.
  touches: new Map(),
  gesture: null,
  pan: null,
  spaceHeld: false,

  // Edits of the whole picture, and a crop being dragged.
  edits: { crop: null, flipH: false, flipV: false, rotation: 0 },
  cropDrag: null,

  // Preview: the picture's pixels, and the one request to the server at a time.
  picturePixels: null,
  previewTimer: null,
  previewBusy: false,
  previewAgain: false,

  // Classify: the log of the request out, when it went, the round it started; live mode.
  sent: null,
  classifiedAt: null,
  awaited: null,
  liveWanted: false,
  announced: undefined,

  // The draft not classified yet, kept for a reload (draft.js): the last encode of the mask.
  draftMask: null, // { version, url }
  draftTimer: null,
  draftReady: false, // the stored draft is back (or there was none): keep this page's from now

  // The detect task (detections.js): its box layer, threshold slider and Show boxes switch.
  detect: null,
};

// The elements every module uses, looked up once from the stage.
export function findElements(stage) {
  const root = stage.closest(".workspace");
  const form = root.querySelector("[data-classify-form]");
  const canvas = stage.querySelector("canvas[data-mask]");
  const view = stage.querySelector("[data-view]");
  const editInputs = {};
  form.querySelectorAll("[data-edit]").forEach((input) => { editInputs[input.dataset.edit] = input; });
  return {
    stage,
    root,
    form,
    canvas,
    ctx: canvas.getContext("2d", { willReadFrequently: true }),
    view,
    picture: view.querySelector("img"),
    cursor: stage.querySelector("[data-brush-cursor]"),
    boundaries: stage.querySelector("[data-boundaries]"),
    cropBox: stage.querySelector("[data-edit-crop]"),
    preview: stage.querySelector("[data-preview]"),
    brush: root.querySelector("[data-brush-size]"),
    brushOutput: root.querySelector("[data-brush-output]"),
    paintedOutput: root.querySelector("[data-painted-output]"),
    undoButton: root.querySelector("[data-undo]"),
    redoButton: root.querySelector("[data-redo]"),
    zoomOutput: root.querySelector("[data-zoom-output]"),
    zoomIn: root.querySelector("[data-zoom-in]"),
    zoomOut: root.querySelector("[data-zoom-out]"),
    fitButton: root.querySelector("[data-fit]"),
    editsOutput: root.querySelector("[data-edits-output]"),
    liveToggle: root.querySelector("[data-live]"),
    submitButton: form.querySelector("button[type=submit]"), // absent once a study is over
    liveInput: form.querySelector("[data-live-input]"),
    previewToggle: form.querySelector("[data-preview-toggle]"),
    previewNote: form.querySelector("[data-preview-note]"),
    fillSelect: form.querySelector("select[name=fill]"),
    editInputs,
    announcer: document.querySelector("[data-announce]"),
  };
}

// The tool chosen: paint, erase, pan, region or crop.
export function tool() {
  return state.el.root.querySelector("[data-tool]:checked").value;
}

// The tool a stroke paints with (any but the eraser paints).
export function paintTool() {
  return tool() === "erase" ? "erase" : "paint";
}

// Milliseconds since the round began, as the brush log counts them.
export function sinceRoundStart() {
  return Math.round(performance.now() - state.roundStart);
}

// One event into the brush log.
export function log(event) {
  event.t = sinceRoundStart();
  state.events.push(event);
}

// What one module announces and others act on, so that no two modules import each other:
// "commit" and "redraw" (a stroke ends or is dropped: history), "edited" (the edits changed:
// the preview), "sent" (a Classify went: the draft), "view" (zoom or pan: the brush outline).
const listeners = {};

export function on(name, listener) {
  (listeners[name] ||= []).push(listener);
}

export function emit(name, ...args) {
  for (const listener of listeners[name] || []) listener(...args);
}

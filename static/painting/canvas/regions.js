// Regions: SLIC superpixels. The map is fetched once as a PNG (id = red + 256 × green); a tap
// paints the whole segment under it, or clears it when it is painted already.
import { state, sinceRoundStart } from "./state.js";
import { eachRegionPixel, fillRegion } from "./mask.js";
import { showConnectionError } from "./page.js";

const REGION_TRIES = 20;

// ---- Pure ----------------------------------------------------------------------------------

// The label of every pixel and each segment's box [x0, y0, x1, y1], from the map's RGBA.
export function decodeRegions(rgba, w, h) {
  const labels = new Uint16Array(w * h);
  const boxes = [];
  for (let p = 0, i = 0; p < labels.length; p++, i += 4) {
    const id = rgba[i] + (rgba[i + 1] << 8);
    labels[p] = id;
    const x = p % w;
    const y = (p - x) / w;
    const box = boxes[id];
    if (!box) boxes[id] = [x, y, x, y];
    else {
      if (x < box[0]) box[0] = x;
      if (x > box[2]) box[2] = x;
      box[3] = y;
    }
  }
  return { labels, boxes, w, h };
}

// The outline between segments, as RGBA: white, mostly opaque, where the right or lower
// neighbour is another segment.
export function boundaryPixels(regions) {
  const { labels, w, h } = regions;
  const d = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if ((x + 1 < w && labels[p + 1] !== labels[p]) || (y + 1 < h && labels[p + w] !== labels[p])) {
        d[p * 4] = d[p * 4 + 1] = d[p * 4 + 2] = 255;
        d[p * 4 + 3] = 140;
      }
    }
  }
  return d;
}

// The segment under a point of the picture (clamped inside it).
export function regionAt(regions, at) {
  const x = Math.min(regions.w - 1, Math.max(0, Math.floor(at[0])));
  const y = Math.min(regions.h - 1, Math.max(0, Math.floor(at[1])));
  return regions.labels[y * regions.w + x];
}

// ---- The page ------------------------------------------------------------------------------

export function loadRegions() {
  const { stage, canvas } = state.el;
  if (state.regionsLoading || !stage.dataset.segments) return;
  state.regionsLoading = true;
  state.retryRegions = null;
  const image = new Image();
  image.onload = () => {
    const w = canvas.width;
    const h = canvas.height;
    const layer = document.createElement("canvas");
    layer.width = w;
    layer.height = h;
    const lctx = layer.getContext("2d", { willReadFrequently: true });
    lctx.drawImage(image, 0, 0, w, h);
    state.regions = decodeRegions(lctx.getImageData(0, 0, w, h).data, w, h);
    drawBoundaries();
    stage.dataset.regions = String(state.regions.boxes.length);
  };
  image.onerror = () => {
    state.regionsLoading = null;
    // A new upload's map comes from the worker a second or so after the page (404 till
    // then): asked again for a while before giving up.
    state.regionTries++;
    if (state.regionTries < REGION_TRIES) state.retryRegions = setTimeout(loadRegions, 1500);
    else showConnectionError("The image's regions could not be loaded: try the Region tool again.");
  };
  image.src = stage.dataset.segments + (state.regionTries ? "?try=" + state.regionTries : "");
}

function drawBoundaries() {
  const { w, h } = state.regions;
  const bctx = state.el.boundaries.getContext("2d");
  const out = bctx.createImageData(w, h);
  out.data.set(boundaryPixels(state.regions));
  bctx.putImageData(out, 0, 0);
}

// The outlines show with the Region tool only.
export function showBoundaries(chosen) {
  state.el.boundaries.hidden = chosen !== "region";
}

function regionPainted(segment) {
  let on = 0;
  let all = 0;
  eachRegionPixel(segment, (d, i) => {
    all++;
    if (d[i + 3] >= 128) on++;
  }, false);
  return on * 2 > all;
}

// A tap: the whole segment under it, painted, or cleared when it is painted already (or
// with Shift, or with the eraser's key). Shown at once; kept when the finger lifts.
export function tapRegion(at, how, pointerId, erase) {
  if (!state.regions) {
    showConnectionError("The image's regions are still being prepared: tap again in a moment.");
    if (!state.regionsLoading && !state.retryRegions) {
      state.regionTries = 0;
      loadRegions();
    }
    return false;
  }
  const segment = regionAt(state.regions, at);
  state.stroke = {
    type: "region",
    tool: erase || regionPainted(segment) ? "erase" : "paint",
    segment: segment,
    pointer: how,
    pointerId: pointerId,
    at: at,
    time: sinceRoundStart(),
  };
  fillRegion(state.stroke);
  return true;
}

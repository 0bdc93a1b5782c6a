// The mask and painting: the canvas holds the mask at the picture's own resolution, painted in
// one colour; a stroke is drawn segment by segment as the pointer moves, a region fills its
// segment, clear and restore replace it all. Every write goes through maskTouched().
import { state, paintTool, sinceRoundStart, log, emit } from "./state.js";
import { wantLive } from "./live.js";

const PAINT_COLOUR = "#ff2d55";
export const PAINT_RGB = [255, 45, 85];

// ---- Pure: what a stroke draws, and the mask's pixels -------------------------------------

// The path of one step of a stroke from `from` to `to`: a round dot where it does not move,
// else a line with round ends, erasing or painting; the brush is op.size pixels wide.
export function segmentPath(op, from, to) {
  const composite = op.tool === "erase" ? "destination-out" : "source-over";
  if (from[0] === to[0] && from[1] === to[1]) {
    return { shape: "dot", composite, width: op.size, x: to[0], y: to[1], radius: op.size / 2 };
  }
  return { shape: "line", composite, width: op.size, from, to };
}

// Every step of a stroke, as it was drawn: a dot at its first point, then a segment to each next.
export function strokePaths(op) {
  return op.points.map((p, i) => segmentPath(op, op.points[Math.max(0, i - 1)], p));
}

// The brush's width in the picture's pixels, from its screen size and the canvas's scale.
export function brushPixels(screenSize, scale) {
  return Math.max(1, Math.round(screenSize * scale));
}

// A pointer's place in the picture's pixels (to a tenth), from the canvas's screen rectangle.
export function picturePoint(clientX, clientY, rect, canvasWidth) {
  const s = canvasWidth / rect.width;
  return [
    Math.round((clientX - rect.left) * s * 10) / 10,
    Math.round((clientY - rect.top) * s * 10) / 10,
  ];
}

// The share of pixels painted (alpha at least 128, as forms.clean_mask reads the mask).
export function paintedShare(rgba) {
  let painted = 0;
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] >= 128) painted++;
  return painted / (rgba.length / 4);
}

// A stored mask is white-on-black: its white part becomes the paint colour, the rest clear.
export function storedMaskToPaint(rgba) {
  for (let i = 0; i < rgba.length; i += 4) {
    const on = rgba[i] >= 128;
    rgba[i] = PAINT_RGB[0]; rgba[i + 1] = PAINT_RGB[1]; rgba[i + 2] = PAINT_RGB[2]; rgba[i + 3] = on ? 255 : 0;
  }
  return rgba;
}

// ---- The canvas ----------------------------------------------------------------------------

// Every write to the canvas: an encode of the mask made before it is stale (submit.js).
export function maskTouched() {
  state.maskVersion++;
  if (state.encodedMask) {
    state.encodedMask = null;
    delete state.el.stage.dataset.maskEncoded;
  }
}

// Draws one step of a stroke (segmentPath).
function draw(path) {
  const { ctx } = state.el;
  maskTouched();
  ctx.save();
  ctx.globalCompositeOperation = path.composite;
  ctx.strokeStyle = PAINT_COLOUR;
  ctx.fillStyle = PAINT_COLOUR;
  ctx.lineWidth = path.width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  if (path.shape === "dot") {
    ctx.arc(path.x, path.y, path.radius, 0, Math.PI * 2);
    ctx.fill();
  } else {
    ctx.moveTo(path.from[0], path.from[1]);
    ctx.lineTo(path.to[0], path.to[1]);
    ctx.stroke();
  }
  ctx.restore();
}

// Visits the pixels of a region's segment inside its box: visit(data, index into data).
export function eachRegionPixel(segment, visit, write) {
  const { ctx } = state.el;
  const regions = state.regions;
  const [x0, y0, x1, y1] = regions.boxes[segment];
  const bw = x1 - x0 + 1;
  const pixels = ctx.getImageData(x0, y0, bw, y1 - y0 + 1);
  const labels = regions.labels;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (labels[y * regions.w + x] === segment) visit(pixels.data, ((y - y0) * bw + (x - x0)) * 4);
    }
  }
  if (write) {
    ctx.putImageData(pixels, x0, y0);
    maskTouched();
  }
}

export function fillRegion(op) {
  const erase = op.tool === "erase";
  eachRegionPixel(op.segment, (d, i) => {
    d[i] = erase ? 0 : PAINT_RGB[0];
    d[i + 1] = erase ? 0 : PAINT_RGB[1];
    d[i + 2] = erase ? 0 : PAINT_RGB[2];
    d[i + 3] = erase ? 0 : 255;
  }, true);
}

// Draws one operation of the history onto the canvas.
export function apply(op) {
  const { canvas, ctx } = state.el;
  maskTouched();
  if (op.type === "region") {
    fillRegion(op);
  } else if (op.type === "stroke") {
    strokePaths(op).forEach(draw);
  } else if (op.type === "clear") {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
  } else if (op.type === "restore") {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (op.image && op.exact) ctx.drawImage(op.image, 0, 0); // a draft: the canvas as it was
    else if (op.image) paintMaskImage(op.image);
  }
}

function paintMaskImage(image) {
  const { canvas, ctx } = state.el;
  const layer = document.createElement("canvas");
  layer.width = canvas.width;
  layer.height = canvas.height;
  const lctx = layer.getContext("2d", { willReadFrequently: true });
  lctx.drawImage(image, 0, 0, canvas.width, canvas.height);
  const pixels = lctx.getImageData(0, 0, layer.width, layer.height);
  storedMaskToPaint(pixels.data);
  lctx.putImageData(pixels, 0, 0);
  ctx.drawImage(layer, 0, 0);
}

export function paintedFraction() {
  const { canvas, ctx } = state.el;
  return paintedShare(ctx.getImageData(0, 0, canvas.width, canvas.height).data);
}

// Picture pixels per screen pixel.
function scale() {
  const { canvas } = state.el;
  return canvas.width / canvas.getBoundingClientRect().width;
}

export function point(event) {
  const { canvas } = state.el;
  return picturePoint(event.clientX, event.clientY, canvas.getBoundingClientRect(), canvas.width);
}

// ---- Strokes: one at a time, logged and committed when it ends ----------------------------

export function startStroke(at, how, pointerId, erase) {
  state.stroke = {
    type: "stroke",
    tool: erase ? "erase" : paintTool(),
    size: brushPixels(Number(state.el.brush.value), scale()),
    pointer: how,
    pointerId: pointerId,
    points: [at],
    times: [sinceRoundStart()],
  };
  draw(segmentPath(state.stroke, at, at));
}

export function extendStroke(at) {
  const stroke = state.stroke;
  draw(segmentPath(stroke, stroke.points[stroke.points.length - 1], at));
  stroke.points.push(at);
  stroke.times.push(sinceRoundStart());
}

// A stroke or region tap ends: into the history and the brush log, and live mode classifies.
export function finishStroke() {
  const finished = state.stroke;
  state.stroke = null;
  emit("commit", finished);
  if (finished.type === "region") {
    log({
      type: "region",
      tool: finished.tool,
      segment: finished.segment,
      pointer: finished.pointer,
      x: finished.at[0],
      y: finished.at[1],
    });
  } else {
    log({
      type: "stroke",
      tool: finished.tool,
      size: finished.size,
      pointer: finished.pointer,
      points: finished.points.map((p, i) => [p[0], p[1], finished.times[i]]),
    });
  }
  wantLive(); // after its log event, which goes with the round
}

// The first finger of a pinch may have painted a dot already: it goes, unlogged.
export function dropStroke() {
  if (!state.stroke) return;
  state.stroke = null;
  emit("redraw");
}

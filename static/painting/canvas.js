// The painting canvas: pointer events (mouse, pen, touch), paint/erase, brush size,
// undo/redo/clear, restoring a past round's mask, and handing the mask to the Classify form.
// On load the canvas holds the mask of the round on screen, so a reload changes nothing.
// The canvas has the picture's own resolution; CSS scales it to the screen, and zooming
// (Ctrl+wheel, pinch, the zoom buttons) scales the view around it with a CSS transform, so the
// mask stays at the picture's resolution and every point maps back through the transform.
// Keyboard: arrow keys move a brush cursor over the focused canvas; Space held paints along
// the way, Shift+Space erases; [ and ] change the brush size (remembered per tool).
(function () {
  "use strict";

  const PAINT_COLOUR = "#ff2d55";
  const MAX_ZOOM = 8;
  const BRUSH_STEPS = [4, 6, 8, 12, 16, 24, 32, 48, 64, 80, 96, 120];
  const SIZES_KEY = "painting.brushSizes";

  function setUp(stage) {
    const canvas = stage.querySelector("canvas[data-mask]");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const root = stage.closest(".workspace");
    const form = root.querySelector("[data-classify-form]");
    const brush = root.querySelector("[data-brush-size]");
    const brushOutput = root.querySelector("[data-brush-output]");
    const paintedOutput = root.querySelector("[data-painted-output]");
    const undoButton = root.querySelector("[data-undo]");
    const redoButton = root.querySelector("[data-redo]");
    const submitButton = form.querySelector("button[type=submit]"); // absent once a study is over
    const view = stage.querySelector("[data-view]");
    const cursor = stage.querySelector("[data-brush-cursor]");

    // Everything drawn is a list of operations, so undo/redo replay them from the base: blank,
    // or the mask the page was loaded with (undo never goes below it).
    let base = null;
    const done = [];
    const undone = [];
    let events = []; // the brush log sent with the next Classify
    let roundStart = performance.now();
    let stroke = null;
    let maskVersion = 0; // bumped by every write to the canvas (maskTouched)
    let encodedMask = null; // { version, file }: the mask PNG encoded while the canvas rested

    function tool() {
      return root.querySelector("[data-tool]:checked").value;
    }

    function paintTool() {
      const chosen = tool();
      return chosen === "erase" ? "erase" : "paint";
    }

    // ---- Regions: SLIC superpixels, the map fetched once as a PNG (id = red + 256 × green) --
    const boundaries = stage.querySelector("[data-boundaries]");
    let regions = null;
    let regionsLoading = null;
    let regionTries = 0;
    let retryRegions = null;
    const REGION_TRIES = 20;

    function loadRegions() {
      if (regionsLoading || !stage.dataset.segments) return;
      regionsLoading = true;
      retryRegions = null;
      const image = new Image();
      image.onload = () => {
        const w = canvas.width;
        const h = canvas.height;
        const layer = document.createElement("canvas");
        layer.width = w;
        layer.height = h;
        const lctx = layer.getContext("2d", { willReadFrequently: true });
        lctx.drawImage(image, 0, 0, w, h);
        const d = lctx.getImageData(0, 0, w, h).data;
        const labels = new Uint16Array(w * h);
        const boxes = [];
        for (let p = 0, i = 0; p < labels.length; p++, i += 4) {
          const id = d[i] + (d[i + 1] << 8);
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
        regions = { labels: labels, boxes: boxes, w: w, h: h };
        drawBoundaries();
        stage.dataset.regions = String(boxes.length);
      };
      image.onerror = () => {
        regionsLoading = null;
        // A new upload's map comes from the worker a second or so after the page (404 till
        // then): asked again for a while before giving up.
        regionTries++;
        if (regionTries < REGION_TRIES) retryRegions = setTimeout(loadRegions, 1500);
        else showConnectionError("The image's regions could not be loaded: try the Region tool again.");
      };
      image.src = stage.dataset.segments + (regionTries ? "?try=" + regionTries : "");
    }

    function drawBoundaries() {
      const { labels, w, h } = regions;
      const bctx = boundaries.getContext("2d");
      const out = bctx.createImageData(w, h);
      const d = out.data;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const p = y * w + x;
          if ((x + 1 < w && labels[p + 1] !== labels[p]) || (y + 1 < h && labels[p + w] !== labels[p])) {
            d[p * 4] = d[p * 4 + 1] = d[p * 4 + 2] = 255;
            d[p * 4 + 3] = 140;
          }
        }
      }
      bctx.putImageData(out, 0, 0);
    }

    function regionAt(at) {
      const x = Math.min(regions.w - 1, Math.max(0, Math.floor(at[0])));
      const y = Math.min(regions.h - 1, Math.max(0, Math.floor(at[1])));
      return regions.labels[y * regions.w + x];
    }

    // Visits the pixels of a segment inside its box: visit(data, index into data).
    function eachRegionPixel(segment, visit, write) {
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

    function applyRegion(op) {
      const erase = op.tool === "erase";
      eachRegionPixel(op.segment, (d, i) => {
        d[i] = erase ? 0 : 255;
        d[i + 1] = erase ? 0 : 45;
        d[i + 2] = erase ? 0 : 85;
        d[i + 3] = erase ? 0 : 255;
      }, true);
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
    function tapRegion(at, how, pointerId, erase) {
      if (!regions) {
        showConnectionError("The image's regions are still being prepared: tap again in a moment.");
        if (!regionsLoading && !retryRegions) {
          regionTries = 0;
          loadRegions();
        }
        return false;
      }
      const segment = regionAt(at);
      stroke = {
        type: "region",
        tool: erase || regionPainted(segment) ? "erase" : "paint",
        segment: segment,
        pointer: how,
        pointerId: pointerId,
        at: at,
        time: Math.round(performance.now() - roundStart),
      };
      applyRegion(stroke);
      return true;
    }

    function scale() {
      return canvas.width / canvas.getBoundingClientRect().width;
    }

    function log(event) {
      event.t = Math.round(performance.now() - roundStart);
      events.push(event);
    }

    function drawSegment(op, from, to) {
      maskTouched();
      ctx.save();
      ctx.globalCompositeOperation = op.tool === "erase" ? "destination-out" : "source-over";
      ctx.strokeStyle = PAINT_COLOUR;
      ctx.fillStyle = PAINT_COLOUR;
      ctx.lineWidth = op.size;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      if (from[0] === to[0] && from[1] === to[1]) {
        ctx.arc(to[0], to[1], op.size / 2, 0, Math.PI * 2);
        ctx.fill();
      } else {
        ctx.moveTo(from[0], from[1]);
        ctx.lineTo(to[0], to[1]);
        ctx.stroke();
      }
      ctx.restore();
    }

    function apply(op) {
      maskTouched();
      if (op.type === "region") {
        applyRegion(op);
      } else if (op.type === "stroke") {
        op.points.forEach((p, i) => drawSegment(op, op.points[Math.max(0, i - 1)], p));
      } else if (op.type === "clear") {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
      } else if (op.type === "restore") {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        if (op.image) paintMaskImage(op.image);
      }
    }

    // A stored mask is white-on-black; show its white part in the paint colour.
    function paintMaskImage(image) {
      const layer = document.createElement("canvas");
      layer.width = canvas.width;
      layer.height = canvas.height;
      const lctx = layer.getContext("2d", { willReadFrequently: true });
      lctx.drawImage(image, 0, 0, canvas.width, canvas.height);
      const pixels = lctx.getImageData(0, 0, layer.width, layer.height);
      const d = pixels.data;
      for (let i = 0; i < d.length; i += 4) {
        const on = d[i] >= 128;
        d[i] = 255; d[i + 1] = 45; d[i + 2] = 85; d[i + 3] = on ? 255 : 0;
      }
      lctx.putImageData(pixels, 0, 0);
      ctx.drawImage(layer, 0, 0);
    }

    function redraw() {
      maskTouched();
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      if (base) apply(base);
      done.forEach(apply);
    }

    function commit(op) {
      done.push(op);
      undone.length = 0;
      changed();
    }

    function changed() {
      undoButton.disabled = done.length === 0;
      redoButton.disabled = undone.length === 0;
      paintedOutput.value = (paintedFraction() * 100).toFixed(1) + "%";
      stage.dataset.painted = paintedOutput.value;
      showPreview();
      encodeMaskWhenIdle();
    }

    function paintedFraction() {
      const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] >= 128) painted++;
      return painted / (canvas.width * canvas.height);
    }

    function point(event) {
      const rect = canvas.getBoundingClientRect();
      const s = canvas.width / rect.width;
      return [
        Math.round((event.clientX - rect.left) * s * 10) / 10,
        Math.round((event.clientY - rect.top) * s * 10) / 10,
      ];
    }

    // ---- The view: zoom and pan (a CSS transform of everything over the picture) ----------
    let zoom = 1;
    let tx = 0;
    let ty = 0;
    const zoomOutput = root.querySelector("[data-zoom-output]");
    const zoomIn = root.querySelector("[data-zoom-in]");
    const zoomOut = root.querySelector("[data-zoom-out]");
    const fitButton = root.querySelector("[data-fit]");

    function applyView() {
      const w = stage.clientWidth;
      const h = stage.clientHeight;
      zoom = Math.min(MAX_ZOOM, Math.max(1, zoom));
      tx = Math.min(0, Math.max(w - w * zoom, tx));
      ty = Math.min(0, Math.max(h - h * zoom, ty));
      view.style.transform = zoom === 1 ? "" : `translate(${tx}px, ${ty}px) scale(${zoom})`;
      stage.dataset.zoom = String(Math.round(zoom * 1000) / 1000);
      zoomOutput.value = Math.round(zoom * 100) + "%";
      zoomOut.disabled = fitButton.disabled = zoom === 1;
      zoomIn.disabled = zoom >= MAX_ZOOM;
      showCursor();
    }

    // The point (sx, sy) of the stage keeps what is under it.
    function zoomAt(factor, sx, sy) {
      const next = Math.min(MAX_ZOOM, Math.max(1, zoom * factor));
      tx = sx - ((sx - tx) * next) / zoom;
      ty = sy - ((sy - ty) * next) / zoom;
      zoom = next;
      applyView();
    }

    function stagePoint(x, y) {
      const rect = stage.getBoundingClientRect();
      return [x - rect.left, y - rect.top];
    }

    // Where the view is, in the brush log: the zoom and the picture's point at the view's
    // top-left corner (image pixels). Logged when a zoom or pan ends, not at every step.
    let viewLogTimer = null;
    function logView() {
      clearTimeout(viewLogTimer);
      viewLogTimer = setTimeout(flushView, 250);
    }
    // A view change still waiting for its timer is logged now (a Classify takes the log).
    function flushView() {
      if (viewLogTimer === null) return;
      clearTimeout(viewLogTimer);
      viewLogTimer = null;
      const s = canvas.width / stage.clientWidth;
      log({
        type: "view",
        zoom: Math.round(zoom * 1000) / 1000,
        x: Math.round((-tx / zoom) * s),
        y: Math.round((-ty / zoom) * s),
      });
    }

    stage.addEventListener("wheel", (event) => {
      // A plain wheel scrolls the page; Ctrl (or a trackpad pinch, which Chromium and Firefox
      // send as a wheel with ctrlKey) zooms around the pointer.
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      const unit = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? stage.clientHeight : 1;
      zoomAt(Math.exp(-event.deltaY * unit * 0.002), ...stagePoint(event.clientX, event.clientY));
      logView();
    }, { passive: false });

    function zoomCentre(factor) {
      zoomAt(factor, stage.clientWidth / 2, stage.clientHeight / 2);
      logView();
    }
    zoomIn.addEventListener("click", () => zoomCentre(1.5));
    zoomOut.addEventListener("click", () => zoomCentre(1 / 1.5));
    fitButton.addEventListener("click", () => {
      zoom = 1;
      tx = ty = 0;
      applyView();
      logView();
    });
    window.addEventListener("resize", applyView);

    // ---- The brush you can see: an outline of its size where it would paint ----------------
    // Sizes are in screen pixels (the range's value), remembered per tool.
    let sizes = { paint: Number(brush.value), erase: Number(brush.value) };
    try {
      const stored = JSON.parse(localStorage.getItem(SIZES_KEY) || "{}");
      for (const name of ["paint", "erase"]) {
        if (Number(stored[name]) >= Number(brush.min) && Number(stored[name]) <= Number(brush.max)) {
          sizes[name] = Number(stored[name]);
        }
      }
    } catch (e) { /* no storage, or not ours: the defaults */ }

    function setSize(value) {
      value = Math.min(Number(brush.max), Math.max(Number(brush.min), Math.round(value)));
      brush.value = String(value);
      brushOutput.value = brush.value;
      sizes[paintTool()] = value;
      try { localStorage.setItem(SIZES_KEY, JSON.stringify(sizes)); } catch (e) { /* none */ }
      showCursor();
    }

    function stepSize(direction) {
      const now = Number(brush.value);
      const steps = direction > 0 ? BRUSH_STEPS.filter((v) => v > now) : BRUSH_STEPS.filter((v) => v < now).reverse();
      if (steps.length) setSize(steps[0]);
    }

    // cursorAt: [x, y] in the picture's pixels, or null when no pointer is over the canvas.
    let cursorAt = null;
    let cursorByKeys = false;
    function showCursor() {
      if (!cursorAt || tool() === "pan" || tool() === "crop" || (tool() === "region" && !cursorByKeys)) {
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
      cursor.classList.toggle("keys", cursorByKeys);
      cursor.hidden = false;
    }

    // ---- Pointers: one stroke at a time; two fingers zoom and pan, and never paint ---------
    const touches = new Map(); // touch pointers down on the canvas: id -> [clientX, clientY]
    let gesture = null;
    let pan = null;
    let spaceHeld = false;

    // One stroke at a time, from the primary pointer: a resting palm or a second finger
    // neither starts another stroke nor joins this one.
    function ours(event) {
      return stroke !== null && event.pointerId === stroke.pointerId;
    }

    function startStroke(at, how, pointerId, erase) {
      stroke = {
        type: "stroke",
        tool: erase ? "erase" : paintTool(),
        size: Math.max(1, Math.round(Number(brush.value) * scale())),
        pointer: how,
        pointerId: pointerId,
        points: [at],
        times: [Math.round(performance.now() - roundStart)],
      };
      drawSegment(stroke, at, at);
    }

    function extendStroke(at) {
      drawSegment(stroke, stroke.points[stroke.points.length - 1], at);
      stroke.points.push(at);
      stroke.times.push(Math.round(performance.now() - roundStart));
    }

    function finishStroke() {
      const finished = stroke;
      stroke = null;
      commit(finished);
      if (finished.type === "region") {
        log({
          type: "region",
          tool: finished.tool,
          segment: finished.segment,
          pointer: finished.pointer,
          x: finished.at[0],
          y: finished.at[1],
        });
        wantLive(); // after its log event, which goes with the round
        return;
      }
      log({
        type: "stroke",
        tool: finished.tool,
        size: finished.size,
        pointer: finished.pointer,
        points: finished.points.map((p, i) => [p[0], p[1], finished.times[i]]),
      });
      wantLive();
    }

    // The first finger of a pinch may have painted a dot already: it goes, unlogged.
    function dropStroke() {
      if (!stroke) return;
      stroke = null;
      redraw();
    }

    function twoFingers() {
      const [a, b] = [...touches.values()];
      return {
        distance: Math.max(1, Math.hypot(a[0] - b[0], a[1] - b[1])),
        middle: stagePoint((a[0] + b[0]) / 2, (a[1] + b[1]) / 2),
      };
    }

    canvas.addEventListener("pointerdown", (event) => {
      if (event.pointerType === "touch") {
        touches.set(event.pointerId, [event.clientX, event.clientY]);
        if (touches.size === 2) {
          dropStroke();
          pan = null;
          const now = twoFingers();
          gesture = { distance: now.distance, middle: now.middle, zoom: zoom, tx: tx, ty: ty };
          return;
        }
        if (touches.size > 2 || gesture) return;
      }
      if (stroke || pan || !event.isPrimary) return;
      const middleButton = event.pointerType === "mouse" && event.button === 1;
      if (event.button !== 0 && event.pointerType === "mouse" && !middleButton) return;
      event.preventDefault();
      try { canvas.setPointerCapture(event.pointerId); } catch (e) { /* synthetic pointers */ }
      if (tool() === "pan" || spaceHeld || middleButton) {
        pan = { pointerId: event.pointerId, x: event.clientX, y: event.clientY, tx: tx, ty: ty };
        stage.classList.add("panning");
        return;
      }
      cursorByKeys = false;
      if (tool() === "crop") startCrop(point(event), event.pointerId);
      else if (tool() === "region") tapRegion(point(event), event.pointerType, event.pointerId, event.shiftKey);
      else startStroke(point(event), event.pointerType, event.pointerId, false);
    });

    canvas.addEventListener("pointermove", (event) => {
      if (touches.has(event.pointerId)) touches.set(event.pointerId, [event.clientX, event.clientY]);
      if (gesture) {
        if (touches.size !== 2) return;
        // The picture's point under the fingers' first middle stays under their middle now.
        const now = twoFingers();
        const next = Math.min(MAX_ZOOM, Math.max(1, gesture.zoom * (now.distance / gesture.distance)));
        tx = now.middle[0] - ((gesture.middle[0] - gesture.tx) * next) / gesture.zoom;
        ty = now.middle[1] - ((gesture.middle[1] - gesture.ty) * next) / gesture.zoom;
        zoom = next;
        applyView();
        return;
      }
      if (pan && event.pointerId === pan.pointerId) {
        tx = pan.tx + event.clientX - pan.x;
        ty = pan.ty + event.clientY - pan.y;
        applyView();
        return;
      }
      if (cropDrag && event.pointerId === cropDrag.pointerId) {
        dragCrop(point(event));
        return;
      }
      if (event.pointerType !== "touch") {
        cursorAt = point(event);
        cursorByKeys = false;
        showCursor();
      }
      if (!ours(event) || stroke.type === "region") return;
      const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const move of moves.length ? moves : [event]) extendStroke(point(move));
    });

    canvas.addEventListener("pointerleave", (event) => {
      if (event.pointerType !== "touch" && !cursorByKeys) {
        cursorAt = null;
        showCursor();
      }
    });

    function endPointer(event) {
      touches.delete(event.pointerId);
      if (gesture) {
        // Until every finger is up, a finger left on the glass neither paints nor pans.
        if (touches.size === 0) {
          gesture = null;
          logView();
        }
        return;
      }
      if (pan && event.pointerId === pan.pointerId) {
        pan = null;
        stage.classList.remove("panning");
        logView();
        return;
      }
      if (cropDrag && event.pointerId === cropDrag.pointerId) {
        finishCrop(event.type === "pointerup" ? point(event) : null);
        return;
      }
      if (ours(event)) finishStroke();
    }
    canvas.addEventListener("pointerup", endPointer);
    canvas.addEventListener("pointercancel", endPointer);

    // ---- Keyboard painting on the focused canvas -------------------------------------------
    function keyStep(event) {
      const s = canvas.width / canvas.getBoundingClientRect().width;
      return Math.max(1, Math.round((event.shiftKey ? 40 : 8) * s));
    }

    canvas.addEventListener("focus", () => {
      if (!canvas.matches(":focus-visible")) return; // a click, not the keyboard
      if (!cursorAt) cursorAt = [Math.round(canvas.width / 2), Math.round(canvas.height / 2)];
      cursorByKeys = true;
      showCursor();
    });
    canvas.addEventListener("blur", () => {
      if (stroke && stroke.pointer === "keyboard") finishStroke();
      if (cursorByKeys) {
        cursorAt = null;
        showCursor();
      }
    });

    const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    canvas.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key in ARROWS) {
        event.preventDefault();
        const [dx, dy] = ARROWS[event.key];
        const step = keyStep(event);
        const from = cursorAt || [canvas.width / 2, canvas.height / 2];
        cursorAt = [
          Math.min(canvas.width, Math.max(0, from[0] + dx * step)),
          Math.min(canvas.height, Math.max(0, from[1] + dy * step)),
        ];
        cursorByKeys = true;
        if (stroke && stroke.pointer === "keyboard" && stroke.type === "stroke") extendStroke(cursorAt);
        keepInView();
        showCursor();
      } else if (event.key === " " && cursorByKeys && tool() !== "pan") {
        event.preventDefault();
        if (event.repeat || stroke) return;
        if (!cursorAt) cursorAt = [Math.round(canvas.width / 2), Math.round(canvas.height / 2)];
        if (tool() === "region") {
          if (tapRegion(cursorAt.slice(), "keyboard", null, event.shiftKey)) finishStroke();
        } else {
          startStroke(cursorAt.slice(), "keyboard", null, event.shiftKey);
        }
      }
    });
    canvas.addEventListener("keyup", (event) => {
      if (event.key === " " && stroke && stroke.pointer === "keyboard") finishStroke();
    });

    // A keyboard brush walking off the zoomed view brings the view along.
    function keepInView() {
      if (zoom === 1 || !cursorAt) return;
      const rect = canvas.getBoundingClientRect();
      const s = rect.width / canvas.width;
      const [x, y] = stagePoint(rect.left + cursorAt[0] * s, rect.top + cursorAt[1] * s);
      const margin = Number(brush.value);
      if (x < margin) tx += margin - x;
      if (x > stage.clientWidth - margin) tx -= x - (stage.clientWidth - margin);
      if (y < margin) ty += margin - y;
      if (y > stage.clientHeight - margin) ty -= y - (stage.clientHeight - margin);
      applyView();
    }

    // Space held anywhere but in a field: a drag pans (when the keyboard brush is not in use).
    document.addEventListener("keydown", (event) => {
      if (event.key === " " && !event.target.matches("input, textarea, select, button")) {
        if (event.target !== canvas || !cursorByKeys) {
          spaceHeld = true;
          // Over the picture, Space pans instead of scrolling the page.
          if (cursorAt && !cursorByKeys) event.preventDefault();
          stage.classList.add("pan-ready");
        }
      }
    });
    document.addEventListener("keyup", (event) => {
      if (event.key === " ") {
        spaceHeld = false;
        stage.classList.remove("pan-ready");
      }
    });

    function undo() {
      if (!done.length) return;
      undone.push(done.pop());
      redraw();
      changed();
      log({ type: "undo" });
      wantLive();
    }

    function redo() {
      if (!undone.length) return;
      const op = undone.pop();
      done.push(op);
      apply(op);
      changed();
      log({ type: "redo" });
      wantLive();
    }

    function clear() {
      const op = { type: "clear" };
      apply(op); // before commit(), which measures the painted share
      commit(op);
      log({ type: "clear" });
      wantLive();
    }

    // A round restored to the canvas: the canvas gets the focus, to go on painting from it.
    function restore(url) {
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
    // the history: the same painted %, nothing to undo, and a restore event in the brush log.
    // Classify waits for it, so a reload never sends an empty canvas by mistake.
    function start(url) {
      if (!url) {
        ready();
        return;
      }
      if (submitButton) submitButton.disabled = true;
      const image = new Image();
      image.onload = () => {
        base = { type: "restore", image: image };
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

    function ready() {
      if (submitButton) submitButton.disabled = false;
      stage.dataset.ready = "true";
    }

    undoButton.addEventListener("click", undo);
    redoButton.addEventListener("click", redo);
    root.querySelector("[data-clear]").addEventListener("click", clear);
    brush.addEventListener("input", () => setSize(Number(brush.value)));
    root.querySelectorAll("[data-tool]").forEach((radio) =>
      radio.addEventListener("change", () => {
        log({ type: "tool", tool: radio.value });
        boundaries.hidden = radio.value !== "region";
        if (radio.value === "region") loadRegions();
        if (radio.value === "paint" || radio.value === "erase") {
          brush.value = String(sizes[radio.value]);
          brushOutput.value = brush.value;
        }
        stage.classList.toggle("pan-tool", radio.value === "pan");
        showCursor();
      }));
    form.querySelector("select[name=fill]").addEventListener("change", (event) =>
      log({ type: "fill", fill: event.target.value }));

    document.addEventListener("click", (event) => {
      const item = event.target.closest("[data-restore-mask]");
      if (!item) return;
      restore(item.dataset.restoreMask);
      restoreEdits(item.dataset.restoreEdits);
    });

    document.addEventListener("keydown", (event) => {
      if (event.target.matches("input[type=text], textarea, select")) return;
      const key = event.key.toLowerCase();
      if ((event.ctrlKey || event.metaKey) && key === "z") {
        event.preventDefault();
        if (event.shiftKey) redo(); else undo();
      } else if ((event.ctrlKey || event.metaKey) && key === "y") {
        event.preventDefault();
        redo();
      } else if (event.ctrlKey || event.metaKey || event.altKey) {
        return;
      } else if (key === "p" || key === "e" || key === "h" || key === "r" || key === "c") {
        const name = { p: "paint", e: "erase", h: "pan", r: "region", c: "crop" }[key];
        root.querySelector(`[data-tool][value=${name}]`)?.click();
      } else if (event.key === "[" || event.key === "]") {
        event.preventDefault();
        stepSize(event.key === "]" ? 1 : -1);
      }
    });

    // The mask PNG: white where painted, transparent elsewhere, at the picture's resolution.
    function maskLayer() {
      const out = document.createElement("canvas");
      out.width = canvas.width;
      out.height = canvas.height;
      const octx = out.getContext("2d");
      octx.drawImage(canvas, 0, 0);
      octx.globalCompositeOperation = "source-in";
      octx.fillStyle = "#fff";
      octx.fillRect(0, 0, out.width, out.height);
      return out;
    }

    function maskFile() {
      const base64 = maskLayer().toDataURL("image/png").split(",")[1];
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      return new File([bytes], "mask.png", { type: "image/png" });
    }

    // The PNG is encoded when the canvas rests (after a stroke, a tap, an undo), off the main
    // thread (toBlob), so that Classify sends it ready instead of encoding on its click path.
    // Every write to the canvas bumps maskVersion, so an encode of an older canvas is never
    // sent: Classify then encodes the canvas as it is, as before.
    function maskTouched() {
      maskVersion++;
      if (encodedMask) {
        encodedMask = null;
        delete stage.dataset.maskEncoded;
      }
    }

    // The mask as it is now: the ready encode when nothing has touched the canvas since (and a
    // canvas resized behind the app's back, a stale page, is encoded as it is now).
    function currentMaskFile() {
      const ready =
        encodedMask &&
        encodedMask.version === maskVersion &&
        encodedMask.width === canvas.width &&
        encodedMask.height === canvas.height;
      return ready ? encodedMask.file : maskFile();
    }

    function encodeMaskWhenIdle() {
      const version = maskVersion;
      const encode = () => {
        if (version !== maskVersion) return; // painted meanwhile: its own changed() encodes
        maskLayer().toBlob((blob) => {
          if (!blob || version !== maskVersion) return;
          encodedMask = {
            version: version,
            width: canvas.width,
            height: canvas.height,
            file: new File([blob], "mask.png", { type: "image/png" }),
          };
          stage.dataset.maskEncoded = "true";
        }, "image/png");
      };
      if (window.requestIdleCallback) window.requestIdleCallback(encode, { timeout: 200 });
      else setTimeout(encode, 0);
    }

    // Capture phase: runs before htmx reads the form, so the mask goes with this request.
    document.addEventListener("submit", (event) => {
      if (event.target !== form) return;
      const files = new DataTransfer();
      files.items.add(currentMaskFile());
      form.querySelector("[data-mask-input]").files = files.files;
      flushView();
      log({ type: "classify" });
      liveWanted = false; // this round takes every stroke so far
      if (liveInput.value !== "1") liveInput.dataset.sent = "";
      form.querySelector("[data-strokes-input]").value = JSON.stringify(events);
      sent = { events: events, roundStart: roundStart };
      events = [];
      roundStart = performance.now();
      classifiedAt = performance.now();
      awaited = null;
    }, true);

    // A Classify the server refused (a bad mask, a rate limit, no network) did not start a
    // new round: its log goes back, to be sent with the next one.
    let sent = null;
    form.addEventListener("htmx:afterRequest", (event) => {
      if (!sent) return;
      // Our 4xx answers are swapped in as messages, so htmx counts them as successful.
      const status = event.detail.xhr ? event.detail.xhr.status : 0;
      liveInput.value = "";
      if (status < 200 || status >= 300) {
        events = sent.events.concat(events);
        roundStart = sent.roundStart;
        classifiedAt = null;
        liveWanted = false; // a refused round is not sent again by itself: the next stroke may
      } else {
        // Swapped in already: the new round, whose result may come now or by a poll.
        const result = document.getElementById("result");
        awaited = result ? result.dataset.roundId : null;
      }
      sent = null;
    });

    // How long the person waited, Classify to result on screen, sent as soon as the result of
    // that round shows (in the Classify answer itself, or after a poll).
    let classifiedAt = null;
    let awaited = null; // the id of the round that Classify started
    // The round on screen is marked in the history strip.
    function markCurrent() {
      const result = document.getElementById("result");
      document.querySelectorAll("#history-list .history-item").forEach((item) => {
        const current = result && item.closest("li").id === "round-" + result.dataset.roundId;
        if (current) item.setAttribute("aria-current", "true");
        else item.removeAttribute("aria-current");
      });
    }
    markCurrent();

    document.body.addEventListener("htmx:afterSettle", () => {
      const result = document.getElementById("result");
      markCurrent();
      announce(result);
      if (classifiedAt === null || awaited === null || !result) return;
      if (result.dataset.roundId !== awaited || result.classList.contains("pending")) return;
      if (result.classList.contains("done") && result.dataset.latencyUrl) {
        sendLatency(result.dataset.latencyUrl, Math.round(performance.now() - classifiedAt));
      }
      classifiedAt = null;
      const prediction = form.querySelector("[data-prediction-input]");
      if (prediction && result.classList.contains("done")) prediction.value = "";
      // The new answer gets the focus (and, on a phone, comes into view below the canvas).
      if (liveInput.dataset.sent === "1") {
        liveInput.dataset.sent = "";
        if (liveWanted) goLive(); // painted meanwhile: the latest canvas goes now
        return; // a live answer leaves the focus where the painting goes on
      }
      result.tabIndex = -1;
      result.focus();
    });

    // ---- Live: each finished stroke or tap classifies by itself --------------------------
    // At most one round in flight (Classify to its result on screen); strokes made meanwhile
    // are sent together, once, with the canvas as it is then: the latest wins.
    const liveToggle = root.querySelector("[data-live]");
    const liveInput = form.querySelector("[data-live-input]");
    let liveWanted = false;

    function wantLive() {
      if (!liveToggle || !liveToggle.checked || !submitButton) return;
      liveWanted = true;
      goLive();
    }

    function goLive() {
      if (!liveWanted || sent !== null || classifiedAt !== null) return;
      if (stage.dataset.ready !== "true") return;
      liveWanted = false;
      liveInput.value = liveInput.dataset.sent = "1";
      form.requestSubmit();
    }
    if (liveToggle) {
      liveToggle.addEventListener("change", () => log({ type: "live", on: liveToggle.checked }));
    }

    // An answer never replaces a newer one on screen (a slow poll of an older round), unless
    // the person asked for that round in the history. Its history item is still updated.
    document.body.addEventListener("htmx:beforeSwap", (event) => {
      if (!event.detail.target || event.detail.target.id !== "result") return;
      const elt = event.detail.requestConfig && event.detail.requestConfig.elt;
      if (elt && elt.closest && elt.closest("#history-list")) return;
      const shown = document.getElementById("result");
      const incoming = /data-round-index="(\d+)"/.exec(event.detail.serverResponse || "");
      if (shown && incoming && Number(incoming[1]) < Number(shown.dataset.roundIndex)) {
        event.detail.swapOverride = "none";
      }
    });

    // Screen readers hear each new answer once, from a live region that stays on the page
    // (the result itself is swapped whole, and a freshly inserted live region is not read).
    const announcer = document.querySelector("[data-announce]");
    let announced = document.getElementById("result")?.dataset.roundId;
    function announce(result) {
      if (!announcer || !result || result.classList.contains("pending")) return;
      if (result.dataset.roundId === announced) return;
      announced = result.dataset.roundId;
      const text = (selector) => result.querySelector(selector)?.textContent.trim() || "";
      const answer = result.classList.contains("done")
        ? `${text("[data-top1]")}, ${text("[data-confidence]")}. ${text(".verdict")}`
        : text(".error");
      announcer.textContent = `${text(".round-label")}: ${answer}`.trim();
    }

    // Attention: the window losing or getting the focus, and the tab being switched away from
    // or back to, go into the brush log like any other event (jsPsych's interaction data).
    window.addEventListener("blur", () => log({ type: "blur" }));
    window.addEventListener("focus", () => log({ type: "focus" }));
    document.addEventListener("visibilitychange", () =>
      log({ type: document.visibilityState === "hidden" ? "hidden" : "visible" }));

    // Those logged after the last Classify would be lost with the page: they go as it is left
    // (Next, Finish, a reload, closing the tab), in a beacon the browser delivers even then.
    window.addEventListener("pagehide", () => {
      const late = events.filter((e) => LATE_TYPES.includes(e.type));
      if (!stage.dataset.eventsUrl || !late.length) return;
      const body = new FormData();
      body.append("csrfmiddlewaretoken", csrfToken());
      body.append("events", JSON.stringify(late.map((e) => ({ type: e.type, t: e.t }))));
      if (navigator.sendBeacon(stage.dataset.eventsUrl, body)) {
        events = events.filter((e) => !LATE_TYPES.includes(e.type)); // a page back from the cache
      }
    });

    // ---- Edits of the whole picture: a crop, flips, a quarter turn (painting/edits.py) ------
    // The mask stays in the original picture's pixels; the crop is dragged on it. The edits
    // apply to the composed picture in edits.py's order: crop, flip left–right, flip
    // top–bottom, turn clockwise. Flip buttons mirror what the model would get now, so after a
    // turn a flip is recorded as the flip and the opposite turn (mirroring reverses turns).
    const editInputs = {};
    form.querySelectorAll("[data-edit]").forEach((input) => { editInputs[input.dataset.edit] = input; });
    const editsOutput = root.querySelector("[data-edits-output]");
    const cropBox = stage.querySelector("[data-edit-crop]");
    const NO_EDITS = { crop: null, flipH: false, flipV: false, rotation: 0 };
    let edits = readEdits();
    let cropDrag = null;

    function readEdits() {
      const crop = editInputs.crop.value ? editInputs.crop.value.split(",").map(Number) : null;
      return {
        crop: crop && crop.length === 4 ? crop : null,
        flipH: editInputs.flip_horizontal.value === "1",
        flipV: editInputs.flip_vertical.value === "1",
        rotation: Number(editInputs.rotation.value) || 0,
      };
    }

    function hasEdits(e) {
      return Boolean(e.crop) || e.flipH || e.flipV || e.rotation !== 0;
    }

    // The same words as edits.Edits.describe().
    function describeEdits(e) {
      const parts = [];
      if (e.crop) parts.push(`cropped to ${e.crop[2]}×${e.crop[3]} at (${e.crop[0]}, ${e.crop[1]})`);
      if (e.flipH) parts.push("flipped left–right");
      if (e.flipV) parts.push("flipped top–bottom");
      if (e.rotation) parts.push(`rotated ${e.rotation}° clockwise`);
      const text = parts.join(", ");
      return text.charAt(0).toUpperCase() + text.slice(1);
    }

    function showEdits() {
      editInputs.crop.value = edits.crop ? edits.crop.join(",") : "";
      editInputs.flip_horizontal.value = edits.flipH ? "1" : "";
      editInputs.flip_vertical.value = edits.flipV ? "1" : "";
      editInputs.rotation.value = String(edits.rotation);
      stage.dataset.edits = hasEdits(edits) ? "Edits: " + describeEdits(edits) : "No edits";
      if (editsOutput) editsOutput.value = stage.dataset.edits;
      drawCropBox(edits.crop);
      showCropGuide(stage, canvas, edits.crop);
    }

    function edit(next, event) {
      // Both mirrors are a half turn: one way to write each edit.
      if (next.flipH && next.flipV) next = { ...next, flipH: false, flipV: false, rotation: (next.rotation + 180) % 360 };
      edits = next;
      log({ type: "edit", ...event });
      showEdits();
      showPreview();
      wantLive();
    }

    function drawCropBox(crop) {
      cropBox.hidden = !crop;
      if (!crop) return;
      cropBox.style.left = (100 * crop[0] / canvas.width) + "%";
      cropBox.style.top = (100 * crop[1] / canvas.height) + "%";
      cropBox.style.width = (100 * crop[2] / canvas.width) + "%";
      cropBox.style.height = (100 * crop[3] / canvas.height) + "%";
    }

    // The rectangle between two points, in whole pixels inside the picture.
    function cropBetween(a, b) {
      const clampX = (v) => Math.min(canvas.width, Math.max(0, Math.round(v)));
      const clampY = (v) => Math.min(canvas.height, Math.max(0, Math.round(v)));
      const [x0, x1] = [clampX(a[0]), clampX(b[0])].sort((p, q) => p - q);
      const [y0, y1] = [clampY(a[1]), clampY(b[1])].sort((p, q) => p - q);
      return [x0, y0, x1 - x0, y1 - y0];
    }

    function startCrop(at, pointerId) {
      cropDrag = { pointerId: pointerId, from: at };
      drawCropBox(cropBetween(at, at));
    }

    function dragCrop(at) {
      drawCropBox(cropBetween(cropDrag.from, at));
    }

    // A drag crops; a click (a rectangle under 4 pixels) removes the crop; a cancel keeps it.
    function finishCrop(at) {
      const from = cropDrag.from;
      cropDrag = null;
      if (!at) {
        drawCropBox(edits.crop);
        return;
      }
      const crop = cropBetween(from, at);
      const kept = crop[2] >= 4 && crop[3] >= 4 ? crop : null;
      edit({ ...edits, crop: kept }, { edit: "crop", crop: kept ? kept.join(",") : "" });
    }

    // A past round's edits, as its history item carries them: "crop;flipH;flipV;rotation".
    function restoreEdits(text) {
      const [crop, flipH, flipV, rotation] = (text || ";;;0").split(";");
      const parsed = crop ? crop.split(",").map(Number) : null;
      const next = { crop: parsed, flipH: flipH === "1", flipV: flipV === "1", rotation: Number(rotation) || 0 };
      if (JSON.stringify(next) === JSON.stringify(edits)) return;
      edits = next;
      log({ type: "edit", edit: "restore", crop: parsed ? crop : "" });
      showEdits();
      showPreview();
    }

    // A study condition without edits has none of these controls (nor the Crop tool).
    root.querySelector("[data-rotate]")?.addEventListener("click", () =>
      edit({ ...edits, rotation: (edits.rotation + 90) % 360 }, { edit: "rotate" }));
    root.querySelector("[data-flip-horizontal]")?.addEventListener("click", () =>
      edit({ ...edits, flipH: !edits.flipH, rotation: (360 - edits.rotation) % 360 }, { edit: "flip_horizontal" }));
    root.querySelector("[data-flip-vertical]")?.addEventListener("click", () =>
      edit({ ...edits, flipV: !edits.flipV, rotation: (360 - edits.rotation) % 360 }, { edit: "flip_vertical" }));
    root.querySelector("[data-reset-edits]")?.addEventListener("click", () =>
      edit({ ...NO_EDITS }, { edit: "reset" }));

    // The composed picture's pixels with the edits applied, as edits.Edits.apply() does.
    function editedPixels(src, e) {
      const [cl, ct, cw, ch] = e.crop || [0, 0, src.width, src.height];
      const turned = e.rotation === 90 || e.rotation === 270;
      const ow = turned ? ch : cw;
      const oh = turned ? cw : ch;
      const out = new ImageData(ow, oh);
      const s = src.data;
      const d = out.data;
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
      return out;
    }

    // ---- Preview: the picture as the model will get it ----------------------------------
    // The fills below are computed here, with the same arithmetic as painting/masking.py, on
    // the same pixels: painted where the mask's alpha is at least 128 (forms.clean_mask), the
    // picture as decoded from its PNG. The others (blur, inpaint, ROAD) the server composes
    // exactly as for a round (views.preview), asked once the canvas settles, not per move.
    const previewFills = {
      mean: () => [124, 116, 104], // masking.IMAGENET_MEAN_RGB
      black: () => [0, 0, 0],
      darken: (r, g, b) => [r >> 1, g >> 1, b >> 1],
      brighten: (r, g, b) => [255 - ((255 - r) >> 1), 255 - ((255 - g) >> 1), 255 - ((255 - b) >> 1)],
      grey: (r, g, b) => { // PIL's RGB → L
        const l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
        return [l, l, l];
      },
    };
    const PREVIEW_SETTLE_MS = 150;
    const preview = stage.querySelector("[data-preview]");
    const previewToggle = form.querySelector("[data-preview-toggle]");
    const previewNote = form.querySelector("[data-preview-note]");
    const fillSelect = form.querySelector("select[name=fill]");
    const picture = view.querySelector("img");
    const previewUrl = stage.dataset.previewUrl;
    let picturePixels = null;

    function showPreview() {
      if (!preview || !previewToggle) return;
      const fill = previewFills[fillSelect.value];
      const byServer = !fill && Boolean(previewUrl);
      previewNote.hidden = !previewToggle.checked || Boolean(fill) || byServer;
      if (!previewNote.hidden) previewNote.textContent = previewNote.dataset.text;
      preview.hidden = !previewToggle.checked || !(fill || byServer);
      // The picture the preview shows is edited already: no crop box or guide over it (CSS).
      stage.classList.toggle("previewing", !preview.hidden);
      if (preview.hidden) return;
      if (byServer) {
        askServer();
        return;
      }
      if (!picturePixels) {
        if (!picture.complete || !picture.naturalWidth) return; // again once it has loaded
        const copy = document.createElement("canvas");
        copy.width = canvas.width;
        copy.height = canvas.height;
        const cctx = copy.getContext("2d");
        cctx.drawImage(picture, 0, 0, copy.width, copy.height);
        picturePixels = cctx.getImageData(0, 0, copy.width, copy.height);
      }
      const mask = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const out = new ImageData(new Uint8ClampedArray(picturePixels.data), canvas.width);
      const d = out.data;
      for (let i = 0; i < d.length; i += 4) {
        if (mask[i + 3] < 128) continue;
        const [r, g, b] = fill(d[i], d[i + 1], d[i + 2]);
        d[i] = r; d[i + 1] = g; d[i + 2] = b;
      }
      const shown = hasEdits(edits) ? editedPixels(out, edits) : out;
      preview.width = shown.width;
      preview.height = shown.height;
      preview.getContext("2d").putImageData(shown, 0, 0);
      preview.dataset.fill = fillSelect.value;
      preview.dataset.source = "page";
    }

    // One request at a time; changes made while it is out are sent together when it is back.
    let serverTimer = null;
    let serverBusy = false;
    let serverAgain = false;

    function askServer() {
      preview.dataset.pending = "true";
      clearTimeout(serverTimer);
      serverTimer = setTimeout(sendToServer, PREVIEW_SETTLE_MS);
    }

    function wantedFromServer(fill) {
      return previewToggle.checked && fillSelect.value === fill && !previewFills[fill];
    }

    function sendToServer() {
      serverTimer = null;
      if (serverBusy) {
        serverAgain = true;
        return;
      }
      const fill = fillSelect.value;
      if (!wantedFromServer(fill)) return;
      const body = new FormData();
      body.append("mask", currentMaskFile());
      body.append("fill", fill);
      for (const input of Object.values(editInputs)) body.append(input.name, input.value);
      serverBusy = true;
      fetch(previewUrl, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken() },
        body: body,
        credentials: "same-origin",
      })
        .then(async (response) => {
          if (!response.ok) throw new Error(await refusalOf(response));
          return createImageBitmap(await response.blob());
        })
        .then((bitmap) => {
          if (!wantedFromServer(fill)) return;
          preview.width = bitmap.width; // edited: not the picture's size, maybe
          preview.height = bitmap.height;
          preview.getContext("2d").drawImage(bitmap, 0, 0);
          preview.dataset.fill = fill;
          preview.dataset.source = "server";
          previewNote.hidden = true;
        })
        .catch((error) => {
          if (!wantedFromServer(fill)) return;
          previewNote.textContent = error.message || "The preview could not be made: try again.";
          previewNote.hidden = false;
        })
        .finally(() => {
          serverBusy = false;
          if (serverAgain) {
            serverAgain = false;
            sendToServer();
          } else if (serverTimer === null) {
            delete preview.dataset.pending;
          }
        });
    }

    if (previewToggle) {
      previewNote.dataset.text = previewNote.textContent;
      previewToggle.addEventListener("change", showPreview);
      fillSelect.addEventListener("change", showPreview);
      picture.addEventListener("load", showPreview);
    }

    showEdits();
    showCheckTarget(stage);
    setUpModelView(stage, root);
    brush.value = String(sizes[paintTool()]);
    brushOutput.value = brush.value;
    applyView();
    boundaries.hidden = tool() !== "region"; // a reload may keep the tool chosen
    stage.classList.toggle("pan-tool", tool() === "pan");
    loadRegions(); // ahead of the first tap, so a tap paints at once
    changed();
    start(stage.dataset.initialMask);
  }

  const LATE_TYPES = ["blur", "focus", "hidden", "visible"];

  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || "";
  }

  // The message of a refusal (views._error answers with the page's message partial).
  async function refusalOf(response) {
    const html = await response.text();
    const flash = new DOMParser().parseFromString(html, "text/html").querySelector(".flash");
    return flash ? flash.textContent.trim() : `The preview failed (HTTP ${response.status}).`;
  }

  // keepalive: the report still goes if the person clicks Next at once.
  function sendLatency(url, ms) {
    const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    fetch(url, {
      method: "POST",
      headers: headers,
      body: new URLSearchParams({ ms: String(ms) }),
      credentials: "same-origin",
      keepalive: true,
    }).catch(() => { /* a lost report leaves the column empty; nothing to tell the person */ });
  }

  // "Show the model's view": its heatmap over the canvas, fetched on first use (the worker
  // computes it after the original's answer, so it may not exist yet).
  function setUpModelView(stage, root) {
    const toggle = root.querySelector("[data-saliency-toggle]");
    const opacity = root.querySelector("[data-saliency-opacity]");
    const overlay = stage.querySelector("[data-saliency]");
    if (!toggle || !overlay) return;
    overlay.addEventListener("error", () => {
      overlay.hidden = true;
      toggle.checked = false;
      showConnectionError("The model's view is not ready yet: try again in a moment.");
    });
    toggle.addEventListener("change", () => {
      if (toggle.checked && !overlay.getAttribute("src")) overlay.src = overlay.dataset.src;
      if (toggle.checked && overlay.complete && overlay.naturalWidth === 0) {
        overlay.src = overlay.dataset.src + "?retry=" + Date.now();
      }
      overlay.hidden = !toggle.checked;
    });
    opacity.addEventListener("input", () => { overlay.style.opacity = opacity.value / 100; });
    overlay.style.opacity = opacity.value / 100;
    // The method menu: its option's value is the method's overlay URL. The alignment table of
    // each round marks the chosen method's row.
    const menu = root.querySelector("[data-saliency-method]");
    if (!menu) return;
    const markChosen = () => {
      const chosen = menu.selectedOptions[0].dataset.method;
      document.querySelectorAll("[data-alignment] tr[data-method]").forEach((row) => {
        row.classList.toggle("chosen", row.dataset.method === chosen);
      });
    };
    menu.addEventListener("change", () => {
      overlay.dataset.src = menu.value;
      if (toggle.checked) overlay.src = menu.value;
      else overlay.removeAttribute("src");
      markChosen();
    });
    document.body.addEventListener("htmx:afterSettle", markChosen);
    markChosen();
  }

  // Outline the centred square the model crops to (its short side × crop fraction), of the
  // picture or of the person's crop [left, top, width, height] (flips and turns keep a
  // centred square where it was).
  function showCropGuide(stage, canvas, crop) {
    const [left, top, width, height] = crop || [0, 0, canvas.width, canvas.height];
    const fraction = Number(stage.dataset.crop || 1);
    const side = Math.min(width, height) * fraction;
    const guide = stage.querySelector("[data-crop-guide]");
    const shown = side < Math.max(width, height) * 0.995;
    guide.hidden = !shown;
    stage.closest(".workspace").querySelector("[data-crop-note]").hidden = !shown;
    if (!shown) return;
    guide.style.width = (100 * side / canvas.width) + "%";
    guide.style.height = (100 * side / canvas.height) + "%";
    guide.style.left = (100 * (left + (width - side) / 2) / canvas.width) + "%";
    guide.style.top = (100 * (top + (height - side) / 2) / canvas.height) + "%";
  }

  // An attention check's region, as shares of the image: "left top width height".
  function showCheckTarget(stage) {
    const target = stage.querySelector("[data-check-target]");
    if (!target) return;
    const [left, top, width, height] = target.dataset.checkTarget.split(" ").map(Number);
    target.style.left = (100 * left) + "%";
    target.style.top = (100 * top) + "%";
    target.style.width = (100 * width) + "%";
    target.style.height = (100 * height) + "%";
    target.hidden = false;
  }

  function showConnectionError(message) {
    const box = document.getElementById("connection-error");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    setTimeout(() => { box.hidden = true; }, 8000);
  }

  // A study's time left, counted from the page's load (the server's figure: the browser's clock
  // may be off). The server enforces it; at zero the page is loaded again, and the server
  // shows that the time is up, with Next.
  function countDown() {
    let seen = null;
    let ends = 0;
    const tick = () => {
      const box = document.querySelector("[data-seconds-left]");
      if (!box) return;
      if (box !== seen) { // the study bar is swapped in again after each round
        seen = box;
        ends = performance.now() + Number(box.dataset.secondsLeft) * 1000;
      }
      const left = Math.max(0, Math.round((ends - performance.now()) / 1000));
      box.querySelector("[data-time-left]").value =
        Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      if (left === 0) {
        clearInterval(timer);
        window.location.reload();
      }
    };
    const timer = setInterval(tick, 1000);
    tick();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-stage]").forEach(setUp);
    if (document.querySelector("[data-seconds-left]")) countDown();
    document.body.addEventListener("htmx:sendError", () =>
      showConnectionError("The server could not be reached. Check your connection and try again."));
    document.body.addEventListener("htmx:responseError", (event) =>
      showConnectionError(`The server had a problem (HTTP ${event.detail.xhr.status}). Your rounds are saved; try again.`));
  });
})();

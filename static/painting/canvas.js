// The painting canvas: pointer events (mouse, pen, touch), paint/erase, brush size,
// undo/redo/clear, restoring a past round's mask, and handing the mask to the Classify form.
// On load the canvas holds the mask of the round on screen, so a reload changes nothing.
// The canvas has the picture's own resolution; CSS scales it to the screen.
(function () {
  "use strict";

  const PAINT_COLOUR = "#ff2d55";

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

    // Everything drawn is a list of operations, so undo/redo replay them from the base: blank,
    // or the mask the page was loaded with (undo never goes below it).
    let base = null;
    const done = [];
    const undone = [];
    let events = []; // the brush log sent with the next Classify
    let roundStart = performance.now();
    let stroke = null;

    function tool() {
      return root.querySelector("[data-tool]:checked").value;
    }

    function scale() {
      return canvas.width / canvas.getBoundingClientRect().width;
    }

    function log(event) {
      event.t = Math.round(performance.now() - roundStart);
      events.push(event);
    }

    function drawSegment(op, from, to) {
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
      if (op.type === "stroke") {
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

    // One stroke at a time, from the primary pointer: a resting palm or a second finger
    // neither starts another stroke nor joins this one.
    function ours(event) {
      return stroke !== null && event.pointerId === stroke.pointerId;
    }

    canvas.addEventListener("pointerdown", (event) => {
      if (stroke || !event.isPrimary) return;
      if (event.button !== 0 && event.pointerType === "mouse") return;
      event.preventDefault();
      try { canvas.setPointerCapture(event.pointerId); } catch (e) { /* synthetic pointers */ }
      // Point times are ms since the round began, like every event's t.
      stroke = {
        type: "stroke",
        tool: tool(),
        size: Math.max(1, Math.round(Number(brush.value) * scale())),
        pointer: event.pointerType,
        pointerId: event.pointerId,
        points: [point(event)],
        times: [Math.round(performance.now() - roundStart)],
      };
      drawSegment(stroke, stroke.points[0], stroke.points[0]);
    });

    canvas.addEventListener("pointermove", (event) => {
      if (!ours(event)) return;
      const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const move of moves.length ? moves : [event]) {
        const p = point(move);
        drawSegment(stroke, stroke.points[stroke.points.length - 1], p);
        stroke.points.push(p);
        stroke.times.push(Math.round(performance.now() - roundStart));
      }
    });

    function endStroke(event) {
      if (!ours(event)) return;
      const finished = stroke;
      stroke = null;
      commit(finished);
      log({
        type: "stroke",
        tool: finished.tool,
        size: finished.size,
        pointer: finished.pointer,
        points: finished.points.map((p, i) => [p[0], p[1], finished.times[i]]),
      });
    }
    canvas.addEventListener("pointerup", endStroke);
    canvas.addEventListener("pointercancel", endStroke);

    function undo() {
      if (!done.length) return;
      undone.push(done.pop());
      redraw();
      changed();
      log({ type: "undo" });
    }

    function redo() {
      if (!undone.length) return;
      const op = undone.pop();
      done.push(op);
      apply(op);
      changed();
      log({ type: "redo" });
    }

    function clear() {
      const op = { type: "clear" };
      apply(op); // before commit(), which measures the painted share
      commit(op);
      log({ type: "clear" });
    }

    function restore(url) {
      if (!url) {
        commit({ type: "restore", image: null });
        redraw();
        changed();
        log({ type: "restore", mask: null });
        return;
      }
      const image = new Image();
      image.onload = () => {
        commit({ type: "restore", image: image });
        redraw();
        changed();
        log({ type: "restore", mask: url });
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
    brush.addEventListener("input", () => { brushOutput.value = brush.value; });
    root.querySelectorAll("[data-tool]").forEach((radio) =>
      radio.addEventListener("change", () => log({ type: "tool", tool: radio.value })));
    form.querySelector("select[name=fill]").addEventListener("change", (event) =>
      log({ type: "fill", fill: event.target.value }));

    document.addEventListener("click", (event) => {
      const item = event.target.closest("[data-restore-mask]");
      if (item) restore(item.dataset.restoreMask);
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
      } else if (!event.ctrlKey && !event.metaKey && (key === "p" || key === "e")) {
        root.querySelector(`[data-tool][value=${key === "p" ? "paint" : "erase"}]`).click();
      }
    });

    // The mask PNG: white where painted, transparent elsewhere, at the picture's resolution.
    function maskFile() {
      const out = document.createElement("canvas");
      out.width = canvas.width;
      out.height = canvas.height;
      const octx = out.getContext("2d");
      octx.drawImage(canvas, 0, 0);
      octx.globalCompositeOperation = "source-in";
      octx.fillStyle = "#fff";
      octx.fillRect(0, 0, out.width, out.height);
      const base64 = out.toDataURL("image/png").split(",")[1];
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      return new File([bytes], "mask.png", { type: "image/png" });
    }

    // Capture phase: runs before htmx reads the form, so the mask goes with this request.
    document.addEventListener("submit", (event) => {
      if (event.target !== form) return;
      const files = new DataTransfer();
      files.items.add(maskFile());
      form.querySelector("[data-mask-input]").files = files.files;
      log({ type: "classify" });
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
      if (status < 200 || status >= 300) {
        events = sent.events.concat(events);
        roundStart = sent.roundStart;
        classifiedAt = null;
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
    document.body.addEventListener("htmx:afterSettle", () => {
      const result = document.getElementById("result");
      if (classifiedAt === null || awaited === null || !result) return;
      if (result.dataset.roundId !== awaited || result.classList.contains("pending")) return;
      if (result.classList.contains("done") && result.dataset.latencyUrl) {
        sendLatency(result.dataset.latencyUrl, Math.round(performance.now() - classifiedAt));
      }
      classifiedAt = null;
      const prediction = form.querySelector("[data-prediction-input]");
      if (prediction && result.classList.contains("done")) prediction.value = "";
    });

    // Attention: the window losing or getting the focus, and the tab being switched away from
    // or back to, go into the brush log like any other event (jsPsych's interaction data).
    window.addEventListener("blur", () => log({ type: "blur" }));
    window.addEventListener("focus", () => log({ type: "focus" }));
    document.addEventListener("visibilitychange", () =>
      log({ type: document.visibilityState === "hidden" ? "hidden" : "visible" }));

    showCropGuide(stage, canvas);
    setUpModelView(stage, root);
    changed();
    start(stage.dataset.initialMask);
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

  // Outline the centred square the model crops to (its short side × crop fraction).
  function showCropGuide(stage, canvas) {
    const fraction = Number(stage.dataset.crop || 1);
    const side = Math.min(canvas.width, canvas.height) * fraction;
    if (side >= Math.max(canvas.width, canvas.height) * 0.995) return;
    const guide = stage.querySelector("[data-crop-guide]");
    guide.style.width = (100 * side / canvas.width) + "%";
    guide.style.height = (100 * side / canvas.height) + "%";
    guide.style.left = (50 * (1 - side / canvas.width)) + "%";
    guide.style.top = (50 * (1 - side / canvas.height)) + "%";
    guide.hidden = false;
    stage.closest(".workspace").querySelector("[data-crop-note]").hidden = false;
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

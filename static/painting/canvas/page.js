// The page around the canvas: connection errors, the CSRF token, the model's view (its
// heatmap over the picture), an attention check's target, a study's time left, and the
// tools disabled where the image takes no more.

export function csrfToken() {
  return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || "";
}

// The message of a refusal (views._error answers with the page's message partial).
export async function refusalOf(response) {
  const html = await response.text();
  const flash = new DOMParser().parseFromString(html, "text/html").querySelector(".flash");
  return flash ? flash.textContent.trim() : `The preview failed (HTTP ${response.status}).`;
}

// keepalive: the report still goes if the person clicks Next at once.
export function sendLatency(url, ms) {
  const headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  fetch(url, {
    method: "POST",
    headers: headers,
    body: new URLSearchParams({ ms: String(ms) }),
    credentials: "same-origin",
    keepalive: true,
  }).catch(() => { /* a lost report leaves the column empty; nothing to tell the person */ });
}

export function showConnectionError(message) {
  const box = document.getElementById("connection-error");
  if (!box) return;
  box.textContent = message;
  box.hidden = false;
  setTimeout(() => { box.hidden = true; }, 8000);
}

export function listenForConnectionErrors() {
  document.body.addEventListener("htmx:sendError", () =>
    showConnectionError("The server could not be reached. Check your connection and try again."));
  document.body.addEventListener("htmx:responseError", (event) =>
    showConnectionError(`The server had a problem (HTTP ${event.detail.xhr.status}). Your rounds are saved; try again.`));
}

// "Show the model's view": its heatmap over the canvas, fetched on first use (the worker
// computes it after the original's answer, so it may not exist yet).
export function setUpModelView(stage, root) {
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

// An attention check's region and the dashed frame around it (how far paint may go), as
// shares of the image: "left top width height".
export function showCheckTarget(stage) {
  stage.querySelectorAll("[data-check-target]").forEach((target) => {
    const [left, top, width, height] = target.dataset.checkTarget.split(" ").map(Number);
    target.style.left = (100 * left) + "%";
    target.style.top = (100 * top) + "%";
    target.style.width = (100 * width) + "%";
    target.style.height = (100 * height) + "%";
    target.hidden = false;
  });
}

// A study's time left, counted from the page's load (the server's figure: the browser's clock
// may be off). The server enforces it; at zero the page is loaded again, and the server
// shows that the time is up, with Next.
export function countDown() {
  let seen = null;
  let ends = 0;
  const tick = () => {
    const box = document.querySelector("[data-seconds-left]");
    if (!box) return;
    if (box !== seen) { // the study bar is swapped in again after each round
      seen = box;
      ends = performance.now() + Number(box.dataset.secondsLeft) * 1000;
    }
    // Rounded up, as the server rounds it: zero only once the deadline has passed.
    const left = Math.max(0, Math.ceil((ends - performance.now()) / 1000));
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

// An image that takes no more (the server marks the stage data-closed, and says why): every
// control but the zoom is disabled, so nobody paints or types for nothing.
export function closeTools(root) {
  root.querySelectorAll("input, button, select, textarea").forEach((control) => {
    if (!control.closest(".view-controls")) control.disabled = true;
  });
}

// The browser's Back and Forward buttons may show this page from memory: ask the server
// again, which knows whether the image is still open.
export function reloadWhenRestored() {
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) window.location.reload();
  });
}

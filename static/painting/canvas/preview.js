// Preview: the picture as the model will get it. The fills below are computed here, with the
// same arithmetic as painting/masking.py, on the same pixels: painted where the mask's alpha is
// at least 128 (forms.clean_mask), the picture as decoded from its PNG. The others (blur,
// inpaint, ROAD) the server composes exactly as for a round (views.preview), asked once the
// canvas settles, not per move.
import { state, log, on } from "./state.js";
import { hasEdits, editedPixels, editFields } from "./edits.js";
import { currentMaskFile } from "./submit.js";
import { csrfToken, refusalOf } from "./page.js";

const PREVIEW_SETTLE_MS = 150;

// ---- Pure ----------------------------------------------------------------------------------

export const PREVIEW_FILLS = {
  mean: () => [124, 116, 104], // masking.IMAGENET_MEAN_RGB
  black: () => [0, 0, 0],
  darken: (r, g, b) => [r >> 1, g >> 1, b >> 1],
  brighten: (r, g, b) => [255 - ((255 - r) >> 1), 255 - ((255 - g) >> 1), 255 - ((255 - b) >> 1)],
  grey: (r, g, b) => { // PIL's RGB → L
    const l = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    return [l, l, l];
  },
};

// A copy of the picture's RGBA with the fill where the mask is painted.
export function filledPixels(picture, mask, fill) {
  const d = new Uint8ClampedArray(picture);
  for (let i = 0; i < d.length; i += 4) {
    if (mask[i + 3] < 128) continue;
    const [r, g, b] = fill(d[i], d[i + 1], d[i + 2]);
    d[i] = r; d[i + 1] = g; d[i + 2] = b;
  }
  return d;
}

// ---- The page ------------------------------------------------------------------------------

// The preview as the canvas, the fill, the edits and the toggle are now.
export function showPreview() {
  const { stage, canvas, ctx, preview, previewToggle, previewNote, fillSelect, picture } = state.el;
  if (!preview || !previewToggle) return;
  const fill = PREVIEW_FILLS[fillSelect.value];
  const byServer = !fill && Boolean(stage.dataset.previewUrl);
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
  if (!state.picturePixels) {
    if (!picture.complete || !picture.naturalWidth) return; // again once it has loaded
    const copy = document.createElement("canvas");
    copy.width = canvas.width;
    copy.height = canvas.height;
    const cctx = copy.getContext("2d");
    cctx.drawImage(picture, 0, 0, copy.width, copy.height);
    state.picturePixels = cctx.getImageData(0, 0, copy.width, copy.height);
  }
  const mask = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const out = { width: canvas.width, height: canvas.height, data: filledPixels(state.picturePixels.data, mask, fill) };
  const shown = hasEdits(state.edits) ? editedPixels(out, state.edits) : out;
  preview.width = shown.width;
  preview.height = shown.height;
  preview.getContext("2d").putImageData(new ImageData(shown.data, shown.width, shown.height), 0, 0);
  preview.dataset.fill = fillSelect.value;
  preview.dataset.source = "page";
}

// One request at a time; changes made while it is out are sent together when it is back.
function askServer() {
  state.el.preview.dataset.pending = "true";
  clearTimeout(state.previewTimer);
  state.previewTimer = setTimeout(sendToServer, PREVIEW_SETTLE_MS);
}

function wantedFromServer(fill) {
  const { previewToggle, fillSelect } = state.el;
  return previewToggle.checked && fillSelect.value === fill && !PREVIEW_FILLS[fill];
}

function sendToServer() {
  const { stage, preview, previewNote, fillSelect } = state.el;
  state.previewTimer = null;
  if (state.previewBusy) {
    state.previewAgain = true;
    return;
  }
  const fill = fillSelect.value;
  if (!wantedFromServer(fill)) return;
  const body = new FormData();
  body.append("mask", currentMaskFile());
  body.append("fill", fill);
  for (const input of editFields()) body.append(input.name, input.value);
  state.previewBusy = true;
  fetch(stage.dataset.previewUrl, {
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
      state.previewBusy = false;
      if (state.previewAgain) {
        state.previewAgain = false;
        sendToServer();
      } else if (state.previewTimer === null) {
        delete preview.dataset.pending;
      }
    });
}

export function setUpPreview() {
  const { previewToggle, previewNote, fillSelect, picture } = state.el;
  fillSelect.addEventListener("change", () => log({ type: "fill", fill: fillSelect.value }));
  if (!previewToggle) return;
  on("edited", showPreview); // the edits changed (edits.js)
  previewNote.dataset.text = previewNote.textContent;
  previewToggle.addEventListener("change", showPreview);
  fillSelect.addEventListener("change", showPreview);
  picture.addEventListener("load", showPreview);
}

// Submit: the mask PNG (encoded while the canvas rests), the Classify request through htmx with
// the brush log, and its answer on screen (latency, focus, announcement, never an older answer
// over a newer one). Also the brush log's last events, sent as the page is left.
import { state, log, emit } from "./state.js";
import { flushView } from "./view.js";
import { goLive } from "./live.js";
import { csrfToken, sendLatency } from "./page.js";

// Events of the brush log sent by themselves when the page is left after the last Classify.
export const LATE_TYPES = ["blur", "focus", "hidden", "visible"];

// ---- The mask PNG --------------------------------------------------------------------------

// The mask PNG: white where painted, transparent elsewhere, at the picture's resolution.
function maskLayer() {
  const { canvas } = state.el;
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

// The mask as it is now: the ready encode when nothing has touched the canvas since (and a
// canvas resized behind the app's back, a stale page, is encoded as it is now).
export function currentMaskFile() {
  const { canvas } = state.el;
  const encoded = state.encodedMask;
  const ready =
    encoded &&
    encoded.version === state.maskVersion &&
    encoded.width === canvas.width &&
    encoded.height === canvas.height;
  return ready ? encoded.file : maskFile();
}

// The PNG is encoded when the canvas rests (after a stroke, a tap, an undo), off the main
// thread (toBlob), so that Classify sends it ready instead of encoding on its click path.
// Every write to the canvas bumps maskVersion (mask.maskTouched), so an encode of an older
// canvas is never sent: Classify then encodes the canvas as it is.
export function encodeMaskWhenIdle() {
  const { canvas, stage } = state.el;
  const version = state.maskVersion;
  const encode = () => {
    if (version !== state.maskVersion) return; // painted meanwhile: its own changed() encodes
    maskLayer().toBlob((blob) => {
      if (!blob || version !== state.maskVersion) return;
      state.encodedMask = {
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

// ---- Classify ------------------------------------------------------------------------------

// Capture phase: runs before htmx reads the form, so the mask goes with this request.
function beforeClassify(event) {
  const { form, liveInput } = state.el;
  if (event.target !== form) return;
  const files = new DataTransfer();
  files.items.add(currentMaskFile());
  form.querySelector("[data-mask-input]").files = files.files;
  flushView();
  log({ type: "classify" });
  state.liveWanted = false; // this round takes every stroke so far
  if (liveInput.value !== "1") liveInput.dataset.sent = "";
  form.querySelector("[data-strokes-input]").value = JSON.stringify(state.events);
  state.sent = { events: state.events, roundStart: state.roundStart };
  state.events = [];
  state.roundStart = performance.now();
  state.classifiedAt = performance.now();
  state.awaited = null;
}

// A Classify the server refused (a bad mask, a rate limit, no network) did not start a
// new round: its log goes back, to be sent with the next one.
function afterClassify(event) {
  if (!state.sent) return;
  // Our 4xx answers are swapped in as messages, so htmx counts them as successful.
  const status = event.detail.xhr ? event.detail.xhr.status : 0;
  state.el.liveInput.value = "";
  if (status < 200 || status >= 300) {
    state.events = state.sent.events.concat(state.events);
    state.roundStart = state.sent.roundStart;
    state.classifiedAt = null;
    state.liveWanted = false; // a refused round is not sent again by itself: the next stroke may
  } else {
    // Swapped in already: the new round, whose result may come now or by a poll.
    const result = document.getElementById("result");
    state.awaited = result ? result.dataset.roundId : null;
    emit("sent", state.awaited);
  }
  state.sent = null;
}

// The round on screen is marked in the history strip.
function markCurrent() {
  const result = document.getElementById("result");
  document.querySelectorAll("#history-list .history-item").forEach((item) => {
    const current = result && item.closest("li").id === "round-" + result.dataset.roundId;
    if (current) item.setAttribute("aria-current", "true");
    else item.removeAttribute("aria-current");
  });
}

// Screen readers hear each new answer once, from a live region that stays on the page
// (the result itself is swapped whole, and a freshly inserted live region is not read).
function announce(result) {
  const { announcer } = state.el;
  if (!announcer || !result || result.classList.contains("pending")) return;
  if (result.dataset.roundId === state.announced) return;
  state.announced = result.dataset.roundId;
  const text = (selector) => result.querySelector(selector)?.textContent.trim() || "";
  const answer = result.classList.contains("done")
    ? `${text("[data-top1]")}, ${text("[data-confidence]")}. ${text(".verdict")}`
    : text(".error");
  announcer.textContent = `${text(".round-label")}: ${answer}`.trim();
}

// How long the person waited, Classify to result on screen, sent as soon as the result of
// that round shows (in the Classify answer itself, or after a poll).
function afterSettle() {
  const { form, liveInput } = state.el;
  const result = document.getElementById("result");
  markCurrent();
  announce(result);
  if (state.classifiedAt === null || state.awaited === null || !result) return;
  if (result.dataset.roundId !== state.awaited || result.classList.contains("pending")) return;
  if (result.classList.contains("done") && result.dataset.latencyUrl) {
    sendLatency(result.dataset.latencyUrl, Math.round(performance.now() - state.classifiedAt));
  }
  state.classifiedAt = null;
  const prediction = form.querySelector("[data-prediction-input]");
  if (prediction && result.classList.contains("done")) prediction.value = "";
  // The new answer gets the focus, and comes into view with the picture.
  if (liveInput.dataset.sent === "1") {
    liveInput.dataset.sent = "";
    if (state.liveWanted) goLive(); // painted meanwhile: the latest canvas goes now
    return; // a live answer leaves the focus where the painting goes on
  }
  result.tabIndex = -1;
  result.focus({ preventScroll: true });
  showBesidePicture(result);
}

// The answer and the picture on one screen where they fit together (a phone: the answer is
// under the picture), else the answer in view.
function showBesidePicture(result) {
  const picture = state.el.stage.getBoundingClientRect();
  const answer = (result.querySelector(".top1") || result).getBoundingClientRect();
  const top = Math.min(picture.top, answer.top);
  const bottom = Math.max(picture.bottom, answer.bottom);
  if (top >= 0 && bottom <= window.innerHeight) return;
  if (bottom - top <= window.innerHeight) window.scrollBy(0, top - 4);
  else result.scrollIntoView({ block: "nearest" });
}

// An answer never replaces a newer one on screen (a slow poll of an older round), unless
// the person asked for that round in the history. Its history item is still updated.
function beforeSwap(event) {
  if (!event.detail.target || event.detail.target.id !== "result") return;
  const elt = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (elt && elt.closest && elt.closest("#history-list")) return;
  const shown = document.getElementById("result");
  const incoming = /data-round-index="(\d+)"/.exec(event.detail.serverResponse || "");
  if (shown && incoming && Number(incoming[1]) < Number(shown.dataset.roundIndex)) {
    event.detail.swapOverride = "none";
  }
}

// Those logged after the last Classify would be lost with the page: they go as it is left
// (Next, Finish, a reload, closing the tab), in a beacon the browser delivers even then.
function sendLateEvents() {
  const { stage } = state.el;
  const late = state.events.filter((e) => LATE_TYPES.includes(e.type));
  if (!stage.dataset.eventsUrl || !late.length) return;
  const body = new FormData();
  body.append("csrfmiddlewaretoken", csrfToken());
  body.append("events", JSON.stringify(late.map((e) => ({ type: e.type, t: e.t }))));
  if (navigator.sendBeacon(stage.dataset.eventsUrl, body)) {
    state.events = state.events.filter((e) => !LATE_TYPES.includes(e.type)); // a page back from the cache
  }
}

export function setUpSubmit() {
  const { form } = state.el;
  document.addEventListener("submit", beforeClassify, true);
  form.addEventListener("htmx:afterRequest", afterClassify);
  state.announced = document.getElementById("result")?.dataset.roundId;
  markCurrent();
  document.body.addEventListener("htmx:afterSettle", afterSettle);
  document.body.addEventListener("htmx:beforeSwap", beforeSwap);
  // Attention: the window losing or getting the focus, and the tab being switched away from
  // or back to, go into the brush log like any other event (jsPsych's interaction data).
  window.addEventListener("blur", () => log({ type: "blur" }));
  window.addEventListener("focus", () => log({ type: "focus" }));
  document.addEventListener("visibilitychange", () =>
    log({ type: document.visibilityState === "hidden" ? "hidden" : "visible" }));
  window.addEventListener("pagehide", sendLateEvents);
}

// Live: with the Live box ticked, each finished stroke, tap, undo, redo, clear or edit
// classifies by itself. At most one round is in flight (Classify to its result on screen);
// changes made meanwhile are sent together, once, with the canvas as it is then: the latest wins.
import { state, log } from "./state.js";

// A change the next round should see (a no-op unless Live is on and the study is not over).
export function wantLive() {
  const { liveToggle, submitButton } = state.el;
  if (!liveToggle || !liveToggle.checked || !submitButton) return;
  state.liveWanted = true;
  goLive();
}

// Classify now, unless a round is still out (its answer calls this again) or the page is not
// ready (the mask it was loaded with is still coming).
export function goLive() {
  const { stage, liveInput, form } = state.el;
  if (!state.liveWanted || state.sent !== null || state.classifiedAt !== null) return;
  if (stage.dataset.ready !== "true") return;
  state.liveWanted = false;
  liveInput.value = liveInput.dataset.sent = "1";
  form.requestSubmit();
}

export function setUpLive() {
  const { liveToggle } = state.el;
  if (liveToggle) liveToggle.addEventListener("change", () => log({ type: "live", on: liveToggle.checked }));
}

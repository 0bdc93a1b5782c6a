// The draft: the mask and the brush log since the last round, kept in the tab's session storage
// so that a reload of the same image (or a phone's browser dropping the tab) loses no stroke
// that was not classified yet. Keyed by the exploration, it holds the round it was painted on:
// only a page whose latest round is still that one takes it back, before any new stroke.
import { state, sinceRoundStart, on } from "./state.js";
import { editsFromFields, editsToFields, showEdits } from "./edits.js";

const PREFIX = "painting.draft.";
const DRAFT_MASK = "data:image/png;base64,";

// ---- Pure ----------------------------------------------------------------------------------

// Whether the log holds a change that the next round would send: paint, a region, undo, redo,
// clear, a past round restored or an edit of the picture (the page's own load is none).
export function unsent(events) {
  return events.some((e) =>
    ["stroke", "region", "clear", "undo", "redo", "edit"].includes(e.type) ||
    (e.type === "restore" && e.source !== "load" && e.source !== "draft"));
}

// The draft stored as text, or null when it is not one of ours, is for another round, or is
// damaged (then the page starts from the round as if there were none).
export function usableDraft(text, round) {
  let draft;
  try { draft = JSON.parse(text || "null"); } catch (e) { return null; }
  if (!draft || typeof draft !== "object" || draft.round !== round) return null;
  if (typeof draft.mask !== "string" || !draft.mask.startsWith(DRAFT_MASK)) return null;
  if (!Array.isArray(draft.events) || !Number.isFinite(draft.elapsed) || draft.elapsed < 0) return null;
  return draft;
}

// ---- The page ------------------------------------------------------------------------------

function key() {
  const id = state.el.stage.dataset.draft;
  return id ? PREFIX + id : null;
}

function write(mask) {
  const name = key();
  if (!name) return;
  const draft = {
    round: state.el.stage.dataset.draftRound || "",
    mask: mask,
    events: state.events,
    elapsed: sinceRoundStart(),
    edits: editsToFields(state.edits),
  };
  try {
    sessionStorage.setItem(name, JSON.stringify(draft));
  } catch (e) { /* no storage, or full: a reload then starts from the last round, as before */ }
}

export function forgetDraft() {
  const name = key();
  try { if (name) sessionStorage.removeItem(name); } catch (e) { /* no storage */ }
}

// After each change of the mask, once the canvas rests: encoded off the click path.
export function keepDraft() {
  if (!key() || !state.draftReady) return;
  clearTimeout(state.draftTimer);
  state.draftTimer = setTimeout(() => {
    if (!unsent(state.events)) { forgetDraft(); return; }
    const version = state.maskVersion;
    state.el.canvas.toBlob((blob) => {
      if (!blob || version !== state.maskVersion) return; // painted meanwhile: kept again then
      const reader = new FileReader();
      reader.onload = () => {
        state.draftMask = { version: version, url: reader.result };
        write(reader.result);
      };
      reader.readAsDataURL(blob);
    }, "image/png");
  }, 250);
}

// The page is left (a reload, another tab, the phone's home screen): the log as it is now,
// with the mask as it is now (encoded here at once where the last encode is older).
function keepNow() {
  if (!key() || !state.draftReady) return;
  if (!unsent(state.events)) { forgetDraft(); return; }
  const kept = state.draftMask;
  write(kept && kept.version === state.maskVersion ? kept.url : state.el.canvas.toDataURL("image/png"));
}

// A Classify the server took: the draft now counts from its round (what was painted while it
// went out stays a draft of the new round).
export function draftSent(roundId) {
  state.el.stage.dataset.draftRound = roundId || "";
  if (unsent(state.events)) keepNow();
  else forgetDraft();
}

// Takes the draft back, if there is one for the round on screen: its mask on the canvas (over
// the round's, so Undo goes back to the round's) and its log, counted on from where it was.
export function restoreDraft(done) {
  let text = null;
  try { text = key() && sessionStorage.getItem(key()); } catch (e) { /* no storage */ }
  const draft = usableDraft(text, state.el.stage.dataset.draftRound || "");
  const finish = () => { state.draftReady = true; done(); };
  if (!draft) { finish(); return; }
  const image = new Image();
  image.onload = () => {
    state.history.done.unshift({ type: "restore", image: image, exact: true });
    state.events = draft.events.concat(state.events.filter((e) => e.source !== "load"));
    state.roundStart = performance.now() - draft.elapsed;
    state.events.push({ type: "restore", source: "draft", t: sinceRoundStart() });
    if (draft.edits && typeof draft.edits === "object") {
      state.edits = editsFromFields(draft.edits);
      showEdits();
    }
    finish();
  };
  image.onerror = finish;
  image.src = draft.mask;
}

export function setUpDraft() {
  on("sent", draftSent); // a Classify went (submit.js): its draft is the round now
  window.addEventListener("pagehide", keepNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") keepNow();
  });
}

// The painting page's entry module: pointer events (mouse, pen, touch), paint/erase, brush
// size, undo/redo/clear, restoring a past round's mask, and handing the mask to the Classify
// form. The work is done by the modules in canvas/ (README.md there: the module map), which
// share one state object (canvas/state.js); this file finds the stage and wires them up.
// On load the canvas holds the mask of the round on screen, so a reload changes nothing.
import { state, findElements } from "./canvas/state.js";
import { listenForView, applyView } from "./canvas/view.js";
import { setUpBrush, showTool } from "./canvas/brush.js";
import { listenForPointers } from "./canvas/pointers.js";
import { listenForKeys } from "./canvas/keyboard.js";
import { setUpHistory, changed, start } from "./canvas/history.js";
import { setUpSubmit } from "./canvas/submit.js";
import { setUpLive } from "./canvas/live.js";
import { setUpEdits, showEdits } from "./canvas/edits.js";
import { setUpPreview } from "./canvas/preview.js";
import { loadRegions } from "./canvas/regions.js";
import { setUpDraft } from "./canvas/draft.js";
import { setUpDetections } from "./canvas/detections.js";
import {
  closeTools, countDown, listenForConnectionErrors, reloadWhenRestored, setUpModelView,
  showCheckTarget,
} from "./canvas/page.js";

function setUp(stage) {
  state.el = findElements(stage);
  state.closed = stage.hasAttribute("data-closed");
  state.roundStart = performance.now();
  const { root } = state.el;
  listenForView();
  setUpBrush();
  listenForPointers();
  listenForKeys();
  setUpHistory();
  setUpSubmit();
  setUpLive();
  setUpEdits();
  setUpPreview();
  setUpDraft();
  setUpDetections();

  showEdits();
  showCheckTarget(stage);
  setUpModelView(stage, root);
  showTool();
  applyView();
  loadRegions(); // ahead of the first tap, so a tap paints at once
  changed();
  start(stage.dataset.initialMask);
  if (state.closed) closeTools(root);
}

document.addEventListener("DOMContentLoaded", () => {
  // One stage a page: the state is one object.
  const stage = document.querySelector("[data-stage]");
  if (stage) setUp(stage);
  if (document.querySelector("[data-seconds-left]")) countDown();
  if (document.getElementById("study-bar")) reloadWhenRestored();
  listenForConnectionErrors();
});

// The study's consent page: the browser window's size goes with the form (the server checks
// it against the study's minimum), and a window that is too small is told so at once.
(function () {
  "use strict";

  function checkScreen(form) {
    const [minWidth, minHeight] = form.dataset.minScreen.split(" ").map(Number);
    const width = window.innerWidth;
    const height = window.innerHeight;
    form.querySelector("[data-screen-width]").value = String(width);
    form.querySelector("[data-screen-height]").value = String(height);
    const tooSmall = width < minWidth || height < minHeight;
    const message = form.querySelector("[data-screen-too-small]");
    message.hidden = !tooSmall;
    if (tooSmall) {
      message.textContent = `This study needs a browser window of at least ${minWidth} × ` +
        `${minHeight} pixels; yours is ${width} × ${height}. Please rotate your ` +
        "device, make the window larger, or use a larger screen (a computer), then come back " +
        "to this link. Nothing has been recorded.";
    }
    // No Start, and no "I do not agree" either: that would count a decline and send the
    // person away with the platform's screen-out code, for a screen they can change.
    form.querySelectorAll("[data-screen-ok]").forEach((part) => { part.hidden = tooSmall; });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("form[data-min-screen]");
    if (!form) return;
    checkScreen(form);
    window.addEventListener("resize", () => checkScreen(form));
  });
})();

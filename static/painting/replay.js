// Step through an exploration's rounds with buttons or the ← → keys.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const root = document.querySelector("[data-replay]");
    if (!root) return;
    const steps = Array.from(root.querySelectorAll("[data-step]"));
    const position = root.querySelector("[data-position]");
    let current = 0;
    function show(index) {
      current = Math.max(0, Math.min(steps.length - 1, index));
      steps.forEach((step, i) => { step.hidden = i !== current; });
      position.textContent = `${current + 1} / ${steps.length}`;
    }
    root.querySelector("[data-prev]").addEventListener("click", () => show(current - 1));
    root.querySelector("[data-next]").addEventListener("click", () => show(current + 1));
    document.addEventListener("keydown", (event) => {
      if (event.key === "ArrowLeft") show(current - 1);
      if (event.key === "ArrowRight") show(current + 1);
    });
    show(0);
  });
})();

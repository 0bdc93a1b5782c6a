// An understanding-test trial: Next waits until every question has an answer, and the form
// sends the time from the page's first paint to the answer (response_ms).
(() => {
  const form = document.querySelector("[data-trial-form]");
  if (!form) return;
  const next = form.querySelector("[data-trial-next]");
  const hint = form.querySelector("[data-trial-hint]");
  const names = [...new Set([...form.querySelectorAll("input[type=radio]")].map((i) => i.name))];
  let painted = null;
  const paint = performance.getEntriesByType("paint").find((e) => e.name === "first-paint");
  if (paint) painted = paint.startTime;
  else requestAnimationFrame(() => { painted = performance.now(); });

  const complete = () => names.every((n) => form.querySelector(`input[name="${n}"]:checked`));
  const update = () => {
    const done = complete();
    next.disabled = !done;
    if (hint) hint.hidden = done;
  };
  form.addEventListener("change", update);
  form.addEventListener("submit", (event) => {
    if (!complete()) { event.preventDefault(); return; }
    const start = painted ?? 0;
    form.querySelector("[data-response-ms]").value = String(Math.round(performance.now() - start));
    next.disabled = true; // one answer per trial
  });
  update();
})();

"""User studies, in one place (docs/studies.md is the researcher's guide).

- rules.py: the writes: consent and the condition a participant gets, opening an image,
  finishing, being screened out or returned, withdrawing.
- queries.py: the reads: a participant's images in order, where they stand and may go on,
  what their condition shows them, time limits, why nothing more is recorded.
- checks.py: attention checks: judged from the painted mask, recorded once.
- links.py: the recruiting platform's ids on a link, and its completion and screened-out URLs.
- dashboard.py: what a researcher watches while the study runs.
- files.py: a study as a JSON file (load_study, dump_study).
- views.py, pages.py: the participant's pages (link, consent, images, finish, withdraw), and
  what they share: who this browser is in the study, the study bar over the explore page.
- onboarding.py, onboarding_views.py: instruction pages and the quiz before the images (what
  they may hold: painting/instructions.py, which Study.clean checks).
- pilots.py: staff's "Preview as a participant"; bots.py: simulated participants.
- provenance.py: the app's version, models and bonus rule, for the export.
- export/: the study's data as one ZIP.
- understanding/: understanding tests before and after the images (trials, their material
  prepared on a worker, scores, pages, their export).
"""

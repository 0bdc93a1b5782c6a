"""Understanding tests (docs/understanding.md): trials.py holds the rules (the trials, the
options a participant sees, checking and scoring an answer); prepare.py computes their material
in torch (tasks.py runs it on a worker); stats.py scores them for the dashboard; views.py shows
them; export.py writes trials.csv."""

"""Rehearse the move from the BigPanda 2.9 app to v3 (`bpsn upgrade`): legacy.py says what a 2.9
instance holds, fix_scripts.py runs the seed's three fix scripts, run.py adds the pre-upgrade
checklist, report.py shows the result."""

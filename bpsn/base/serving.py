"""What a process that serves a simulator does once before it serves: garbage-collector tuning.

A simulator's state (the dictionary, seeded records, compiled patterns) lives for the whole
process, and every alert makes dozens of short-lived objects: with the default thresholds the
cyclic collector ran six full collections per 30,000 alerts, walking the long-lived state each
time (a quarter of BigPanda's CPU per alert). Frozen after start-up, that state is never walked
again; a larger first generation collects the short-lived objects less often.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000  # default 700


def quiet_gc_for_startup() -> None:
    """Call first thing in a `bpsn` process. Start-up (imports, FastAPI's routes, seeding) makes
    hundreds of thousands of long-lived objects and almost no garbage: with the default gen0
    threshold the collector ran hundreds of times, walking that growing heap, for a fifth of a
    simulator's start-up CPU. The threshold tune_gc sets for serving is set from the start instead."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)


def tune_gc() -> None:
    """Call once, after the app and its seed data are built, before serving. Only the youngest
    generation is collected first: start-up's few hundred garbage objects are all there (a full
    collection after it finds none), and a full one walks the whole state, 60 ms, to find nothing."""
    gc.collect(0)
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)

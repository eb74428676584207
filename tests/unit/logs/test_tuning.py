"""The collector's thresholds for the interactive console."""

from __future__ import annotations

from console.engine.logs import tuning


def test_tune_gc_collects_young_objects_less_often() -> None:
    import gc

    before = gc.get_threshold()
    try:
        tuning.tune_gc()
        assert gc.get_threshold() == (tuning.GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

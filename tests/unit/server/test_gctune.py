"""greenh2.server.gctune, in process: the collector's state is restored after each test."""
import gc
import logging

import pytest

from greenh2.server import gctune


@pytest.fixture(autouse=True)
def restore_gc(monkeypatch):
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    monkeypatch.setattr(gctune, "_at_start", None)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def test_tune_freezes_and_raises_only_the_young_threshold():
    before = gc.get_threshold()
    gctune.remember()
    assert gctune.tune(10_000) is True
    assert gc.get_threshold() == (10_000, before[1], before[2])
    assert gc.get_freeze_count() > 0


def test_zero_changes_nothing():
    before = gc.get_threshold()
    gctune.remember()
    assert gctune.tune(0) is False
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


@pytest.mark.parametrize("app_change", ["threshold", "disable"])
def test_an_app_that_changed_the_collector_is_left_alone(app_change, caplog):
    gctune.remember()
    if app_change == "threshold":
        gc.set_threshold(50, 5, 5)
    else:
        gc.disable()
    chosen = (gc.isenabled(), gc.get_threshold())
    with caplog.at_level(logging.INFO, logger="greenh2"):
        assert gctune.tune(10_000) is False
    assert (gc.isenabled(), gc.get_threshold()) == chosen and gc.get_freeze_count() == 0
    assert "the app set up the garbage collector itself" in caplog.text


def test_first_remember_wins():
    gctune.remember()
    gc.set_threshold(50, 5, 5)  # the app, after greenh2 looked
    gctune.remember()  # a later entry point (the gunicorn worker after its arbiter)
    assert gctune.tune(10_000) is False


def test_without_remember_the_current_setup_counts_as_the_start():
    gc.set_threshold(900, 10, 10)
    assert gctune.tune(2_000) is True
    assert gc.get_threshold() == (2_000, 10, 10)

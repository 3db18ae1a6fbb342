from __future__ import annotations

from torouter.router.routing.cooldown import Cooldowns


def test_opens_after_threshold_failures_in_the_window() -> None:
    breakers = Cooldowns(threshold=3, window_s=10, cooldown_s=5)
    breakers.failed("a", now=0)
    breakers.failed("a", now=20)  # the first one has left the window
    breakers.failed("a", now=21)
    assert breakers.available("a", now=21)
    breakers.failed("a", now=22)
    assert not breakers.available("a", now=22) and not breakers.available("a", now=26.9)
    assert breakers.available("b", now=22)  # per upstream


def test_half_open_lets_one_probe_through_and_closes_on_success() -> None:
    breakers = Cooldowns(threshold=1, window_s=10, cooldown_s=5)
    breakers.failed("a", now=0)
    assert breakers.available("a", now=5.1)  # the probe
    assert not breakers.available("a", now=5.2)  # only one at a time
    breakers.succeeded("a")
    assert breakers.available("a", now=5.3) and breakers.available("a", now=5.4)


def test_a_failed_probe_cools_down_again() -> None:
    breakers = Cooldowns(threshold=1, window_s=10, cooldown_s=5)
    breakers.failed("a", now=0)
    assert breakers.available("a", now=6)
    breakers.failed("a", now=6)
    assert not breakers.available("a", now=10) and breakers.available("a", now=11.5)

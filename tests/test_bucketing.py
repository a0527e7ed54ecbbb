"""The training sampler's bucketing (lhotse's DynamicBucketingSampler as :func:`make_sampler` sets it up):
padding per batch, cuts kept, and the settings it refuses. Metadata-only cuts: no audio is read."""

import numpy as np
import pytest
from lhotse import CutSet
from lhotse.testing.dummies import dummy_cut

from clsp.errors import ClspError
from clsp.train.data import DataConfig, make_sampler


def cuts_of(durations) -> CutSet:
    """Lazy-free CutSet of metadata-only cuts with these durations (s)."""
    return CutSet.from_cuts(dummy_cut(i, duration=float(d)) for i, d in enumerate(durations))


def demo_like_durations(n: int, seed: int = 0) -> np.ndarray:
    """Clip lengths spread like the demo corpus's (2.5-19.5 s, median ~6 s): log-uniform in [2.5, 20) s."""
    return np.exp(np.random.default_rng(seed).uniform(np.log(2.5), np.log(20.0), n)).round(3)


def epoch_stats(sampler) -> tuple[float, list[str]]:
    """(padding fraction: 1 - audio / (longest clip x clips) summed over batches, ids yielded in order)."""
    real = padded = 0.0
    ids = []
    for batch in sampler:
        d = [c.duration for c in batch]
        real, padded = real + sum(d), padded + max(d) * len(d)
        ids += [c.id for c in batch]
    return 1 - real / padded, ids


@pytest.mark.parametrize("max_duration", [240.0, 800.0])
def test_default_buckets_pad_at_most_5_percent_and_keep_every_cut_but_the_last_partial_batches(max_duration):
    durations = demo_like_durations(8000)
    cuts = cuts_of(durations)
    cfg = DataConfig(max_duration=max_duration)
    cfg.validate()
    padding, ids = epoch_stats(make_sampler(cuts, cfg, seed=0, rank=0, world_size=1))
    assert padding <= 0.05
    assert len(ids) == len(set(ids))  # no cut twice in an epoch
    by_id = {c.id: c.duration for c in cuts}
    left = sum(by_id.values()) - sum(by_id[i] for i in ids)
    # drop_last leaves at most the partial batch of each bucket when the epoch ends
    assert 0 <= left < cfg.num_buckets * max_duration
    # the few buckets of the old default pad much more on the same cuts (what the option buys)
    old, _ = epoch_stats(make_sampler(cuts, DataConfig(max_duration=max_duration, num_buckets=5), 0, 0, 1))
    assert old > 3 * padding


def test_an_epoch_with_drop_last_off_keeps_every_cut_once():
    cuts = cuts_of(demo_like_durations(3000, seed=1))
    sampler = make_sampler(cuts, DataConfig(max_duration=240.0), seed=0, rank=0, world_size=1)
    sampler.drop_last = False  # lhotse's own switch: the partial batches come out at the end
    _, ids = epoch_stats(sampler)
    assert sorted(ids) == sorted(c.id for c in cuts)


def test_a_buffer_too_small_for_the_buckets_or_too_few_clips_are_one_line_errors():
    cuts = cuts_of(demo_like_durations(3000, seed=2))
    # 500 cuts of ~7 s over 50 buckets: ~70 s per bucket, less than one 800 s batch (lhotse would yield nothing)
    with pytest.raises(ClspError, match=r"data.buffer_size=500 .* less than one batch .*data.num_buckets=50"):
        make_sampler(cuts, DataConfig(max_duration=800.0, num_buckets=50, buffer_size=500), 0, 0, 1)
    with pytest.raises(ClspError, match=r"fewer clips .* than data.num_buckets=20"):
        make_sampler(cuts_of([3.0] * 10), DataConfig(), 0, 0, 1)
    for bad, msg in (({"buffer_size": 3}, "buffer_size"), ({"quadratic_duration": 0.0}, "quadratic_duration")):
        with pytest.raises(ValueError, match=msg):
            DataConfig(**bad).validate()

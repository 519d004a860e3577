"""Model quality guards on generated data with planted structure (tiny configurations, fixed seeds).

* Cross-session tastes: users keep two favourite topics and each short session is about one of them, with
  no item-to-item transitions to lean on, so the user's other topic is only knowable from earlier
  sessions: the HRNN must beat both the session-only model and most-popular.
* A popularity shift at the end of the time range: recency_mask=true must beat false on the newest
  sessions (the field's next-item protocol after a global time cut).
"""

import torch

from hrnn.data import DataConfig, build_interactions
from hrnn.evaluation import HRNNScorer, PopularityScorer, evaluate_next_item, evaluate_service
from hrnn.recipe import HRNN_RECIPE
from hrnn.training import fit
from hrnn.data.splits import next_item_split, service_split
from hrnn.synth import generate_interactions

CPU = torch.device("cpu")
TINY = HRNN_RECIPE.values(hidden_dimension=32, bptt=8, epochs=4, batch_size=16, num_negatives=64, learning_rate=0.1, seed=7)


def _data(**kwargs):
    return build_interactions(generate_interactions(**kwargs), DataConfig(max_user_history_length_percentile=1.0))


def test_hrnn_beats_session_only_and_most_popular_on_cross_session_tastes():
    torch.set_num_threads(1)
    data = _data(n_users=800, n_items=200, n_topics=10, seed=0, mean_session_length=2.5, max_session_length=4,
                 sessions_per_user_median=8, two_topic_fraction=1.0, follow=0.0, noise=0.02, start_prob=0.0,
                 trend_strength=0.0)
    split = service_split(data, seed=0, fraction=0.3)
    train = data.take(split.train)
    known = torch.as_tensor(train.item_counts() > 0)

    def score(hierarchical):
        model = fit(train, TINY, hierarchical=hierarchical, device="cpu", quiet=True).model
        return evaluate_service(HRNNScorer(model, CPU, item_mask=known, session_timeout_seconds=1800.0), data,
                                split.holdout)["precision_at_25"]

    hrnn, session_only = score(True), score(False)
    popular = evaluate_service(PopularityScorer(train.item_counts()), data, split.holdout)["precision_at_25"]
    assert hrnn > session_only + 0.003, (hrnn, session_only)
    assert hrnn > popular + 0.01, (hrnn, popular)


def test_recency_mask_wins_after_a_popularity_shift():
    torch.set_num_threads(1)
    data = _data(n_users=700, n_items=200, n_topics=10, seed=0, trend_strength=0.6, trend_fraction=0.25)
    split = next_item_split(data, test_fraction=0.1)
    known = torch.as_tensor(split.train.item_counts() > 0)

    def recall(recency_mask, seed):
        hp = TINY.replace(recency_mask=recency_mask, recency_half_life_days=30.0, seed=seed)
        model = fit(split.train, hp, device="cpu", quiet=True).model
        return evaluate_next_item(HRNNScorer(model, CPU, item_mask=known), split)["recall_at_20"]

    # Two training seeds: the margin of one seed varies by about +-0.01 (scripts/quality_check.py).
    margins = [recall(True, seed) - recall(False, seed) for seed in (7, 8)]
    assert sum(margins) / len(margins) > 0.01, margins

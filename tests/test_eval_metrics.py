"""The local evaluate modules against scikit-learn / SciPy on random inputs; ranking, ties, top-k search."""

import json

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix,
                             label_ranking_average_precision_score, recall_score, top_k_accuracy_score)

from eval.metrics import METRIC_NAMES, load_metric, metric_path
from eval.report import markdown_table, write_run
from eval.retrieval import bidirectional_retrieval, ranked_lists, retrieval_metrics, target_ranks
from eval.topk import topk_inner_product
from eval.zeroshot import class_scores, plot_confusion, zero_shot_predict


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_every_metric_loads_offline_with_evaluate_load(name):
    import evaluate

    module = evaluate.load(str(metric_path(name)))
    assert module.name == name
    assert (metric_path(name) / f"{name}.py").is_file()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_retrieval_matches_sklearn_on_random_scores(seed):
    rng = np.random.default_rng(seed)
    n = 57
    sim = rng.standard_normal((n, n)).astype(np.float32)
    sim[np.arange(n), np.arange(n)] += rng.uniform(0, 3, n)  # some queries find their item, some do not
    got = retrieval_metrics(torch.from_numpy(sim))
    labels = np.arange(n)
    for k in (1, 5, 10):
        assert got[f"R@{k}"] == pytest.approx(top_k_accuracy_score(labels, sim, k=k, labels=labels))
    # one relevant item: per-query LRAP is 1/rank; mAP@10 keeps it where rank <= 10
    per_query = np.array([label_ranking_average_precision_score(np.eye(n)[[i]], sim[[i]]) for i in range(n)])
    in_top10 = np.array([top_k_accuracy_score([i], sim[[i]], k=10, labels=labels) for i in range(n)])
    assert got["mAP@10"] == pytest.approx(float((per_query * in_top10).mean()))
    assert got["n"] == n


def test_retrieval_module_on_ranked_lists_and_short_lists():
    metric = load_metric("retrieval")
    out = metric.compute(predictions=[[3, 1, 2], [2, 0], [5, 6, 7, 8, 9, 0]], references=[1, 1, 0], ks=[1, 2])
    # ranks: 2, absent, 6 → R@1 = 0, R@2 = 1/3, mAP@10 = (1/2 + 0 + 1/6) / 3
    assert out["R@1"] == 0.0 and out["R@2"] == pytest.approx(1 / 3)
    assert out["mAP@10"] == pytest.approx((0.5 + 1 / 6) / 3)


def test_ties_never_count_in_the_models_favour():
    sim = torch.zeros(3, 3)  # every item ties: the target ranks last
    assert target_ranks(sim, torch.arange(3)).tolist() == [3, 3, 3]
    assert retrieval_metrics(sim)["R@1"] == 0.0
    sim = torch.tensor([[0.5, 0.5, 0.1], [0.2, 0.9, 0.9], [0.0, 0.0, 1.0]])
    lists = ranked_lists(sim, torch.arange(3), k=3)
    assert lists[0][1] == 0 and lists[1][1] == 1 and lists[2][0] == 2  # the target after its tie partner
    m = retrieval_metrics(sim, ks=(1, 2))
    assert m["R@1"] == pytest.approx(1 / 3) and m["R@2"] == 1.0


def test_bidirectional_retrieval_perfect_and_shuffled():
    x = torch.nn.functional.normalize(torch.randn(20, 16), dim=1)
    perfect = bidirectional_retrieval(x, x)
    assert perfect["speech_to_text"]["R@1"] == 1.0 and perfect["text_to_speech"]["mAP@10"] == 1.0
    shuffled = bidirectional_retrieval(x, x[torch.roll(torch.arange(20), 1)])
    assert shuffled["speech_to_text"]["R@1"] == 0.0


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", [0, 1])
def test_classification_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    classes = 5
    true = rng.integers(0, classes - 1, 200)  # class 4 never occurs in the references
    pred = np.where(rng.random(200) < 0.4, true, rng.integers(0, classes, 200))
    out = load_metric("classification").compute(predictions=pred, references=true, num_classes=classes)
    assert out["WA"] == pytest.approx(accuracy_score(true, pred))
    assert out["UA"] == pytest.approx(balanced_accuracy_score(true, pred))  # mean recall over present classes
    present = sorted(set(true))
    expected = recall_score(true, pred, labels=present, average=None, zero_division=0)
    assert [out["per_class_recall"][c] for c in present] == pytest.approx(list(expected))
    assert out["per_class_recall"][4] is None
    assert out["confusion"] == confusion_matrix(true, pred, labels=list(range(classes))).tolist()


@pytest.mark.parametrize("seed", [0, 1])
def test_correlation_matches_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    model = rng.standard_normal(80)
    human = np.round(model + rng.standard_normal(80), 0)  # integer-like ratings: many ties
    out = load_metric("correlation").compute(predictions=model, references=human)
    assert out["pearson"] == pytest.approx(stats.pearsonr(model, human).statistic, abs=1e-9)
    assert out["spearman"] == pytest.approx(stats.spearmanr(model, human).statistic, abs=1e-9)
    assert load_metric("correlation").compute(predictions=[1.0, 2.0], references=[3.0, 3.0])["pearson"] is None


def test_best_prompt_wins_for_a_class_with_several_prompts():
    sim = torch.tensor([[0.1, 0.9, 0.3], [0.5, 0.2, 0.4]])
    classes = torch.tensor([0, 1, 0])  # prompts 0 and 2 are class 0
    assert torch.allclose(class_scores(sim, classes), torch.tensor([[0.3, 0.9], [0.5, 0.2]]))
    speech = torch.eye(3)
    assert zero_shot_predict(speech, torch.eye(3), torch.tensor([1, 0, 1])).tolist() == [1, 0, 1]


@pytest.mark.parametrize("chunk", [None, 7, 1000])
def test_chunked_topk_is_exact(chunk):
    torch.manual_seed(0)
    items = torch.nn.functional.normalize(torch.randn(3001, 32), dim=1)
    queries = torch.nn.functional.normalize(torch.randn(9, 32), dim=1)
    scores, rows = topk_inner_product(items, queries, 10, chunk_rows=chunk)
    ref = (queries @ items.T).topk(10, dim=1)
    assert torch.equal(rows, ref.indices) and torch.allclose(scores, ref.values)
    assert topk_inner_product(items[:4], queries, 10)[1].shape == (9, 4)  # k larger than the index


def test_confusion_png_and_run_files(tmp_path):
    png = plot_confusion([[3, 1], [0, 4]], ["male", "female"], tmp_path / "cm.png", "gender")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = markdown_table(["a", "b"], [[0.123456, None]])
    assert "| 0.1235 | – |" in table
    js, md = write_run(tmp_path / "out", "run", {"x": 1}, table)
    assert json.loads(js.read_text()) == {"x": 1} and md.read_text() == table

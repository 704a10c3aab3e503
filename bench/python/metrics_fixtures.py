"""Records scikit-learn's values for fixed inputs, so ml/metrics.ts is checked against them without Python.
Run: bench/python/ensure-venv.sh scikit-learn && bench/.venv/bin/python bench/python/metrics_fixtures.py"""
import json, random, sys
import sklearn
from sklearn.metrics import roc_auc_score, average_precision_score, log_loss, brier_score_loss, f1_score, precision_score, recall_score, accuracy_score
from sklearn.calibration import calibration_curve

cases = []
rng = random.Random(7)
for name, n, pos_rate, ties in [("random-300", 300, 0.2, False), ("rare-1000", 1000, 0.03, False), ("ties-200", 200, 0.4, True)]:
    y = [1 if rng.random() < pos_rate else 0 for _ in range(n)]
    p = [min(0.999, max(0.001, (0.35 if t else 0.0) + 0.4 * t + rng.random() * 0.6)) for t in y]
    if ties:
        p = [round(v, 1) for v in p]
    pred = [1 if v >= 0.5 else 0 for v in p]
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    cases.append({
        "name": name, "y": y, "p": p,
        "roc_auc": roc_auc_score(y, p), "pr_auc": average_precision_score(y, p), "log_loss": log_loss(y, p),
        "brier": brier_score_loss(y, p), "accuracy": accuracy_score(y, pred), "precision": precision_score(y, pred, zero_division=0),
        "recall": recall_score(y, pred), "f1": f1_score(y, pred),
        "calibration": {"fraction_positive": list(prob_true), "mean_predicted": list(prob_pred)},
    })
json.dump({"sklearn": sklearn.__version__, "cases": cases}, open(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/metrics/sklearn.json", "w"))

"""scikit-learn reference for `npm run bench -- calibration`: the same feature table and the same folds as the TS
side; prints one JSON line with the pooled out-of-fold log loss and ECE of LogisticRegression (mean-imputed,
standardised, C = 1/l2, no class weights), RandomForestClassifier (same hyper-parameters, raw votes) and the
same forest wrapped in CalibratedClassifierCV(method="sigmoid", cv=3)."""
import json, sys
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

spec = json.load(open(sys.argv[1]))
n, f = spec["rows"], spec["features"]
X = np.fromfile(spec["x"], dtype=np.float32).reshape(f, n).T.astype(np.float64)
y = np.fromfile(spec["y"], dtype=np.uint8)
fold = np.fromfile(spec["fold"], dtype=np.uint8)
p = spec["forest"]


def ece(y, q, bins=10):
    # Equal-width bins as calibration_curve(strategy="uniform"); a value on an edge goes right.
    edges = np.linspace(0.0, 1.0 + 1e-8, bins + 1)
    idx = np.searchsorted(edges[1:-1], q, side="right")
    out = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            out += m.sum() * abs(q[m].mean() - y[m].mean())
    return out / len(y)


def forest(seed):
    return RandomForestClassifier(n_estimators=p["nTrees"], max_depth=p["maxDepth"], min_samples_leaf=p["minSamplesLeaf"],
                                  min_samples_split=p["minSamplesSplit"], max_features="sqrt", n_jobs=2, random_state=seed)


models = {
    "logistic": lambda: make_pipeline(SimpleImputer(strategy="mean"), StandardScaler(),
                                      LogisticRegression(C=1.0 / spec["l2"], max_iter=1000)),
    "forest": lambda: forest(0),
    "forest_calibrated": lambda: CalibratedClassifierCV(forest(0), method="sigmoid", cv=3),
}
out = {}
for name, make in models.items():
    q = np.zeros(n)
    for k in range(spec["folds"]):
        test = fold == k
        m = make().fit(X[~test], y[~test])
        q[test] = m.predict_proba(X[test])[:, 1]
    out[name] = {"log_loss": float(log_loss(y, np.clip(q, 1e-15, 1 - 1e-15))), "ece": float(ece(y, q)),
                 "predicted_to_observed": float(q.sum() / y.sum())}
import sklearn
out["version"] = sklearn.__version__
print(json.dumps(out))

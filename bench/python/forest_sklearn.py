"""scikit-learn reference for `npm run bench -- forest`: reads the same data and split the TS side wrote and
prints one JSON line with train/predict seconds, held-out ROC AUC and peak RSS."""
import json, resource, sys, time
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

spec = json.load(open(sys.argv[1]))
n, f = spec["rows"], spec["features"]
X = np.fromfile(spec["x"], dtype=np.float32).reshape(f, n).T.copy()
y = np.fromfile(spec["y"], dtype=np.uint8)
test = np.zeros(n, dtype=bool)
test[np.fromfile(spec["test"], dtype=np.uint32)] = True
p = spec["params"]
clf = RandomForestClassifier(n_estimators=p["nTrees"], max_depth=p["maxDepth"], min_samples_leaf=p["minSamplesLeaf"],
                             min_samples_split=p["minSamplesSplit"], max_features="sqrt", n_jobs=2, random_state=0)
X = np.nan_to_num(X, nan=-1e9) if spec.get("nan_to_num") else X
t = time.perf_counter(); clf.fit(X[~test], y[~test]); train = time.perf_counter() - t
predict = float("inf")
for _ in range(3):  # best of three calls, as the TS side
    t = time.perf_counter(); proba = clf.predict_proba(X[test])[:, 1]; predict = min(predict, time.perf_counter() - t)
aucs = [roc_auc_score(y[test], proba)]
# Small data: the mean AUC over as many seeds as the TS side uses (timings are the first seed's).
for seed in range(1, spec.get("seeds", 1)):
    other = RandomForestClassifier(n_estimators=p["nTrees"], max_depth=p["maxDepth"], min_samples_leaf=p["minSamplesLeaf"],
                                   min_samples_split=p["minSamplesSplit"], max_features="sqrt", n_jobs=2, random_state=seed)
    other.fit(X[~test], y[~test])
    aucs.append(roc_auc_score(y[test], other.predict_proba(X[test])[:, 1]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the big batch, as the TS side
batch = None
if spec.get("batch_tile"):  # a million-row batch: every row `batch_tile` times, as the TS side
    big = np.tile(X, (spec["batch_tile"], 1))
    batch = float("inf")
    for _ in range(3):
        t = time.perf_counter(); clf.predict_proba(big); batch = min(batch, time.perf_counter() - t)
    del big
auto = None
if spec.get("auto_max_samples"):  # the product's default draw per tree, the same count on this side
    t = time.perf_counter()
    drawn = RandomForestClassifier(n_estimators=p["nTrees"], max_depth=p["maxDepth"], min_samples_leaf=p["minSamplesLeaf"],
                                   min_samples_split=p["minSamplesSplit"], max_features="sqrt", n_jobs=2, random_state=0,
                                   max_samples=int(spec["auto_max_samples"])).fit(X[~test], y[~test])
    auto = {"train_seconds": time.perf_counter() - t, "roc_auc": float(roc_auc_score(y[test], drawn.predict_proba(X[test])[:, 1]))}
import sklearn
print(json.dumps({"auto": auto, "train_seconds": train, "predict_seconds": predict, "batch_predict_seconds": batch,
                  "roc_auc": float(np.mean(aucs)), "roc_auc_seeds": aucs,
                  "peak_rss_mb": peak, "version": sklearn.__version__}))

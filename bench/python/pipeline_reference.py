"""Reference pipeline for `npm run bench -- pipeline`: the same job as `funnelcast run` in idiomatic Python —
pandas features from the raw events (bench/python/features_pandas_full.py, once per cutoff: the training cutoff
and the scoring cutoff), then scikit-learn's RandomForestClassifier (same trees, depth, leaf size, n_jobs=2) on
the same feature table funnelcast trained on: 3-fold stratified CV and the holdout model (the same held-out users
funnelcast held out), scoring every user at the cutoff and one CSV per campaign. Prints one JSON line with the
seconds of each step and the held-out ROC AUC; the bench samples its memory and CPU from outside.
"""
import json, os, runpy, sys, tempfile, time
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

spec = json.load(open(sys.argv[1]))
here = os.path.dirname(os.path.abspath(__file__))
out = spec["out"]
os.makedirs(out, exist_ok=True)
steps = {}

def timed(name, fn):
    t = time.perf_counter()
    r = fn()
    steps[name] = time.perf_counter() - t
    return r

def features():
    for cutoff in (spec["training_cutoff"], spec["cutoff"]):
        d = tempfile.mkdtemp(dir=out)
        sys.argv = ["features_pandas_full.py", spec["events"], cutoff, str(spec["horizon_days"]), d]
        runpy.run_path(os.path.join(here, "features_pandas_full.py"), run_name="__main__")
timed("features", features)

p = spec["params"]
def forest(seed=0):
    return RandomForestClassifier(n_estimators=p["nTrees"], max_depth=p["maxDepth"], min_samples_leaf=p["minSamplesLeaf"],
                                  min_samples_split=p.get("minSamplesSplit", 10), max_features="sqrt", n_jobs=2,
                                  random_state=seed)

train = pd.read_parquet(spec["training_table"])
cols = [c for c in train.columns if c not in ("user_id", "label") and pd.api.types.is_numeric_dtype(train[c])]
X = train[cols].to_numpy(dtype=np.float32)
y = train["label"].to_numpy().astype(np.int8)
held = set(pd.read_parquet(spec["holdout_users"])["user_id"].astype(str))
test = train["user_id"].astype(str).isin(held).to_numpy()

def cv():
    aucs = []
    for tr, te in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y):
        m = forest().fit(X[tr], y[tr])
        aucs.append(roc_auc_score(y[te], m.predict_proba(X[te])[:, 1]))
    return aucs
cv_aucs = timed("cross-validate", cv) if spec.get("cv", True) else []
model = timed("train", lambda: forest().fit(X[~test], y[~test]))
auc = roc_auc_score(y[test], model.predict_proba(X[test])[:, 1])

def score():
    s = pd.read_parquet(spec["scoring_table"])
    s["propensity"] = model.predict_proba(s[cols].to_numpy(dtype=np.float32))[:, 1]
    s["propensity_percentile"] = s["propensity"].rank(pct=True) * 100
    s[["user_id", "propensity"]].to_parquet(os.path.join(out, "scores.parquet"))
    return s
scored = timed("score", score)

def campaigns():
    # The sample's campaigns, from the columns the table has (the 14-day windows are approximated by 7/30 days).
    s = scored
    lists = {
        "cart_abandoners": s[(s.get("n_addtocart_30d", 0) > 0) & (s.get("n_transaction_30d", 0) == 0)
                             & (s["propensity_percentile"] >= 50)],
        "likely_buyers": s[s["propensity_percentile"] >= 80].nlargest(500, "propensity"),
        "win_back": s[(s.get("n_transaction_total", 0) > 0) & (s.get("days_since_last_transaction", 0) > 60)],
    }
    for name, d in lists.items():
        d[["user_id", "propensity"]].to_csv(os.path.join(out, f"{name}.csv"), index=False)
    return {k: len(v) for k, v in lists.items()}
sizes = timed("segments", campaigns)
import sklearn
print(json.dumps({"steps": steps, "seconds": sum(steps.values()), "roc_auc": auc, "cv_roc_auc": cv_aucs,
                  "train_rows": int((~test).sum()), "test_rows": int(test.sum()), "campaigns": sizes,
                  "version": sklearn.__version__}))

"""Records scikit-uplift's metric values for fixed inputs, so lift/uplift-metrics.ts is checked against them
without Python (test/unit/lift/uplift-metrics.test.ts).
Run: bench/python/ensure-venv.sh scikit-learn scikit-uplift && bench/.venv/bin/python bench/python/uplift_fixtures.py"""
import json, random, sys
import sklift
from sklift.metrics import uplift_auc_score, qini_auc_score, uplift_at_k, uplift_curve, qini_curve

cases = []
rng = random.Random(11)
for name, n, share_t, ties in [("random-400", 400, 0.5, False), ("unbalanced-1000", 1000, 0.8, False), ("ties-300", 300, 0.4, True)]:
    t = [1 if rng.random() < share_t else 0 for _ in range(n)]
    x = [rng.random() for _ in range(n)]
    # A true effect that grows with x, so a score near x ranks better than chance.
    y = [1 if rng.random() < 0.1 + (0.25 * xi if ti else 0.0) else 0 for xi, ti in zip(x, t)]
    s = [xi + rng.gauss(0, 0.3) for xi in x]
    if ties:
        s = [round(v, 1) for v in s]
    ux, uy = uplift_curve(y, s, t)
    qx, qy = qini_curve(y, s, t)
    cases.append({
        "name": name, "y": y, "t": t, "score": s,
        "uplift_auc": uplift_auc_score(y, s, t), "qini_auc": qini_auc_score(y, s, t),
        "uplift_at_30_overall": uplift_at_k(y, s, t, strategy="overall", k=0.3),
        "uplift_at_30_by_group": uplift_at_k(y, s, t, strategy="by_group", k=0.3),
        "uplift_curve": {"x": [int(v) for v in ux], "y": [float(v) for v in uy]},
        "qini_curve": {"x": [int(v) for v in qx], "y": [float(v) for v in qy]},
    })
json.dump({"sklift": sklift.__version__, "cases": cases}, open(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/uplift/sklift.json", "w"))

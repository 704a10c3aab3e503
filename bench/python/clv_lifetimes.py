"""The `lifetimes` side of `npm run bench -- clv`.

  clv_lifetimes.py fit <summary.csv> <out.json>        fit BG/NBD + Gamma-Gamma on ID,x,t_x,T,zbar rows and predict
  clv_lifetimes.py master <CDNOW_master.txt> <out.csv>  the 23,570-customer summary at 1997-09-30 (weeks), as the
                                                        reference sample's: same-day purchases merged, x = days - 1
"""
import json
import sys
import time

import numpy as np
import pandas as pd
import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter


def fit(summary_csv, out_json):
    d = pd.read_csv(summary_csv)
    t0 = time.perf_counter()
    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(d["x"], d["t_x"], d["T"])
    bg_seconds = time.perf_counter() - t0
    r = d[(d.x > 0) & (d.zbar > 0)]
    t0 = time.perf_counter()
    ggf = GammaGammaFitter(penalizer_coef=0.0).fit(r["x"], r["zbar"])
    gg_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(39, d["x"], d["t_x"], d["T"])
    alive = bgf.conditional_probability_alive(d["x"], d["t_x"], d["T"])
    spend = ggf.conditional_expected_average_profit(d["x"], d["zbar"])
    predict_seconds = time.perf_counter() - t0
    json.dump(
        {
            "lifetimes": lifetimes.__version__,
            "bgnbd": bgf.params_.to_dict(),
            "gammaGamma": ggf.params_.to_dict(),
            "seconds": {"bgnbd": bg_seconds, "gammaGamma": gg_seconds, "predict": predict_seconds},
            "expected39": [float(v) for v in np.asarray(expected)],
            "pAlive": [float(v) for v in np.asarray(alive).ravel()],
            "spend": [float(v) for v in np.asarray(spend)],
        },
        open(out_json, "w"),
    )


def master(master_txt, out_csv):
    rows = [l.split() for l in open(master_txt).read().splitlines()[1:] if l.strip()]
    t = pd.DataFrame(rows, columns=["id", "date", "cds", "sales"])
    t["date"] = pd.to_datetime(t["date"], format="%Y%m%d")
    t["sales"] = t["sales"].astype(float)
    t = t[t.date <= "1997-09-30"].groupby(["id", "date"], as_index=False)["sales"].sum()
    end = pd.Timestamp("1997-09-30")
    g = t.sort_values("date").groupby("id")
    first = g["date"].min()
    out = pd.DataFrame({
        "ID": first.index,
        "x": g.size().values - 1,
        "t_x": ((g["date"].max() - first).dt.days / 7).values,
        "T": ((end - first).dt.days / 7).values,
    })
    repeat = t.merge(first.rename("first").reset_index(), on="id")
    zbar = repeat[repeat.date > repeat["first"]].groupby("id")["sales"].mean()
    out["zbar"] = out["ID"].map(zbar).fillna(0.0).values
    out.to_csv(out_csv, index=False)


if __name__ == "__main__":
    {"fit": fit, "master": master}[sys.argv[1]](*sys.argv[2:])

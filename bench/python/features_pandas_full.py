"""pandas reference for `npm run bench -- features`: the same work as funnelcast's extract + features on the
generated events — validation (missing user, unparseable time, unknown event, bad revenue), exact-duplicate
removal, then per user before the cutoff: RFM (lifetimes' definition), recency/tenure, counts and revenue,
distinct items and days, sessions (source ids), per event type totals, 7/30/90-day windows and days since last,
funnel stage and ratios, hour/weekend shares, the label from the horizon, and the last 50 events as sequences.
Timed from reading the file to the written Parquet files. Written in idiomatic vectorised pandas (groupby, no
per-row Python), which is how a data scientist would write it."""
import json, sys, time
import numpy as np
import pandas as pd

file, cutoff, horizon_days, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
EVENTS = ["view", "addtocart", "transaction"]
WINDOWS = [7, 30, 90]
N = 50
t0 = time.perf_counter()
df = pd.read_csv(file, dtype=str, keep_default_na=False)
read = len(df)
df["ts"] = pd.to_datetime(df["timestamp"], utc=True, errors="coerce", format="ISO8601").dt.tz_localize(None)
df["revenue"] = pd.to_numeric(df["revenue"].replace("", np.nan), errors="coerce")
bad = (df["user_id"] == "") | df["ts"].isna() | ~df["event"].isin(EVENTS) | (df["revenue"] < 0)
quarantined = int(bad.sum())
df = df[~bad]
before = len(df)
df = df.drop_duplicates(subset=["user_id", "timestamp", "event", "item_id", "revenue", "session_id"])
duplicates = before - len(df)

c = pd.Timestamp(cutoff).tz_localize(None)
c2 = c + pd.Timedelta(days=horizon_days)
label_users = set(df.loc[(df["event"] == "transaction") & (df["ts"] >= c) & (df["ts"] < c2), "user_id"])
e = df[df["ts"] < c].sort_values(["user_id", "ts", "event"], kind="stable")
g = e.groupby("user_id", sort=True)
f = pd.DataFrame(index=g.size().index)
f["days_since_last_event"] = (c - g["ts"].max()).dt.total_seconds() / 86400
f["tenure_days"] = (c - g["ts"].min()).dt.total_seconds() / 86400
f["n_events_total"] = g.size()
f["revenue_total"] = g["revenue"].sum()
f["distinct_items"] = g["item_id"].nunique()
f["n_sessions"] = g["session_id"].nunique()
f["events_per_session"] = f["n_events_total"] / f["n_sessions"].clip(lower=1)
f["active_days"] = e["ts"].dt.normalize().groupby(e["user_id"]).nunique()
for ev in EVENTS:
    m = e["event"] == ev
    sub = e[m]
    gs = sub.groupby("user_id")
    f[f"n_{ev}_total"] = gs.size().reindex(f.index, fill_value=0)
    f[f"days_since_last_{ev}"] = ((c - gs["ts"].max()).dt.total_seconds() / 86400).reindex(f.index).fillna(f["tenure_days"] + 1)
    for w in WINDOWS:
        f[f"n_{ev}_{w}d"] = sub[sub["ts"] >= c - pd.Timedelta(days=w)].groupby("user_id").size().reindex(f.index, fill_value=0)
f["funnel_stage"] = np.select([f[f"n_{ev}_total"] > 0 for ev in reversed(EVENTS)], [3, 2, 1], 0)
f["ratio_addtocart_per_view"] = f["n_addtocart_total"] / f["n_view_total"].clip(lower=1)
f["ratio_transaction_per_addtocart"] = f["n_transaction_total"] / f["n_addtocart_total"].clip(lower=1)
hour = e["ts"].dt.hour
for name, a, b in [("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24)]:
    f[f"share_{name}"] = ((hour >= a) & (hour < b)).groupby(e["user_id"]).mean()
f["share_weekend"] = e["ts"].dt.day_of_week.isin([5, 6]).groupby(e["user_id"]).mean()
# RFM as lifetimes: purchases per day, calibration ends the day before the cutoff.
p = e[e["event"] == "transaction"].assign(day=lambda d: d["ts"].dt.normalize())
d = p.groupby(["user_id", "day"])["revenue"].sum().fillna(0).reset_index()
gd = d.groupby("user_id")
first = gd["day"].min()
rfm = pd.DataFrame({"rfm_frequency": gd.size() - 1, "rfm_recency": (gd["day"].max() - first).dt.days,
                    "rfm_t": ((c - pd.Timedelta(microseconds=1)).normalize() - first).dt.days})
d = d.merge(first.rename("first").reset_index(), on="user_id")
rfm["rfm_monetary"] = d[d["day"] > d["first"]].groupby("user_id")["revenue"].mean()
f = f.join(rfm)
f["rfm_frequency"] = f["rfm_frequency"].fillna(0)
f["rfm_recency"] = f["rfm_recency"].fillna(0)
f["rfm_t"] = f["rfm_t"].fillna(f["tenure_days"])
f["rfm_monetary"] = f["rfm_monetary"].fillna(0)
f["label"] = f.index.isin(label_users).astype("int32")
f.reset_index().to_parquet(f"{out}/features_pandas.parquet", compression="zstd")

# Sequences: the last N events per user (vectorised: position from the end, then a pivot into N columns).
e = e.assign(token=e["event"].map({"addtocart": 1, "transaction": 2, "view": 3}).astype("int32"))
e["gap"] = np.log1p(e.groupby("user_id")["ts"].diff().dt.total_seconds().fillna(0) / 3600).astype("float32")
e["logrev"] = np.log1p(e["revenue"].fillna(0).clip(lower=0)).astype("float32")
e["pos"] = e.groupby("user_id").cumcount(ascending=False)
last = e[e["pos"] < N]
seq = {}
for col in ["token", "gap", "logrev"]:
    wide = last.pivot(index="user_id", columns="pos", values=col).reindex(columns=range(N - 1, -1, -1)).fillna(0)
    seq[col] = list(wide.to_numpy(dtype="float32"))
pd.DataFrame({"user_id": f.index, "tokens": seq["token"], "gaps": seq["gap"], "revenue": seq["logrev"]}).to_parquet(
    f"{out}/sequences_pandas.parquet", compression="zstd")
print(json.dumps({"seconds": time.perf_counter() - t0, "read": read, "quarantined": quarantined,
                  "duplicates": duplicates, "users": len(f)}))

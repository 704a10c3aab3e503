"""pandas reference for `npm run bench -- features`: the floor's core features (counts, 7/30-day windows, recency,
revenue, active days per user before the cutoff), timed from reading the file to the per-user table."""
import json, sys, time
import pandas as pd

file, ts_col, uid_col, revenue_expr, cutoff = sys.argv[1:6]
t = time.perf_counter()
df = pd.read_csv(file, low_memory=False)
df = df[df[uid_col].notna()]
df["ts"] = pd.to_datetime(df[ts_col], utc=True, errors="coerce", format="mixed").dt.tz_localize(None)
if "*" in revenue_expr:
    a, b = [c.strip() for c in revenue_expr.split("*")]
    df["rev"] = pd.to_numeric(df[a], errors="coerce") * pd.to_numeric(df[b], errors="coerce")
else:
    df["rev"] = pd.to_numeric(df[revenue_expr], errors="coerce")
c = pd.Timestamp(cutoff).tz_localize(None)
df = df[df["ts"] < c]
df["day"] = df["ts"].dt.date
df["w7"] = df["ts"] >= c - pd.Timedelta(days=7)
df["w30"] = df["ts"] >= c - pd.Timedelta(days=30)
g = df.groupby(uid_col)
out = pd.DataFrame({"n": g.size(), "revenue": g["rev"].sum(), "days": g["day"].nunique(), "n7": g["w7"].sum(), "n30": g["w30"].sum(),
                    "recency": (c - g["ts"].max()).dt.total_seconds() / 86400})
print(json.dumps({"seconds": time.perf_counter() - t, "users": len(out)}))

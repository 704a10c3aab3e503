"""PyTorch CPU reference for `npm run bench -- lstm`. Mode `throughput`: sequences/s training an LSTM of the given
shape on random data. Mode `auc`: the same model shape as ours on a sequences.parquet (token embedding + 2 numeric
inputs per step), trained on the given rows, held-out ROC AUC on the others; its throughput includes, like ours, a
validation pass and a checkpoint after every epoch. Prints one JSON line."""
import json, os, sys, tempfile, time
import numpy as np, torch
from torch import nn
torch.set_num_threads(2); torch.manual_seed(0)

class Net(nn.Module):
    """LSTM → linear → sigmoid on the last step. With `vocab`, each step is [token id, gap, revenue] and the token
    goes through an embedding of `dim` (padding id 0 embeds to zeros), as ours; else `inputs` numbers per step."""
    def __init__(self, inputs, units, vocab=0, dim=0):
        super().__init__()
        self.embed = nn.Embedding(vocab + 1, dim, padding_idx=0) if vocab else None
        self.lstm = nn.LSTM(dim + 2 if vocab else inputs, units, batch_first=True); self.out = nn.Linear(units, 1)
    def forward(self, x):
        if self.embed is not None: x = torch.cat([self.embed(x[..., 0].long()), x[..., 1:]], -1)
        h, _ = self.lstm(x); return torch.sigmoid(self.out(h[:, -1, :])).squeeze(-1)

def train(model, x, y, epochs, batch, lr, w1=1.0, checkpoint=None):
    """Sequences/s of training. With `checkpoint` (a file), each epoch also does what ours does after its batches:
    a validation forward pass over 15 % of the rows and a checkpoint of the model and optimizer, fsync'd."""
    opt = torch.optim.Adam(model.parameters(), lr=lr); n = len(x); seen = 0; t = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for b in range(0, n, batch):
            idx = perm[b:b + batch]; p = model(x[idx]); yy = y[idx]
            loss = nn.functional.binary_cross_entropy(p, yy, weight=torch.where(yy > 0, w1, 1.0))
            opt.zero_grad(); loss.backward(); opt.step(); seen += len(idx)
        if checkpoint:
            with torch.no_grad(): model(x[: max(1, int(n * 0.15))])
            with open(checkpoint, "wb") as f:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, f); f.flush(); os.fsync(f.fileno())
    return seen / (time.perf_counter() - t)

spec = json.load(open(sys.argv[1]))
if spec["mode"] == "throughput":
    T, F, U, N = spec["T"], spec["inputs"], spec["units"], spec["n"]
    x = torch.randn(N, T, F); y = (torch.rand(N) < 0.3).float(); m = Net(F, U)
    train(m, x[:256], y[:256], 1, 256, 1e-3)
    print(json.dumps({"seq_per_s": train(m, x, y, spec["epochs"], spec["batch"], 1e-3), "torch": torch.__version__}))
else:
    import pyarrow.parquet as pq
    from sklearn.metrics import roc_auc_score
    t = pq.read_table(spec["file"]).to_pydict(); V = spec["vocab"]
    # Ragged lists (oldest event first), left-padded to padded_to steps with zeros like ml/lstm readSequences.
    # Rows in user_id order, as readSequences reads them, so the train/test row numbers name the same users.
    T = int(t["padded_to"][0]); order = sorted(range(len(t["user_id"])), key=lambda i: t["user_id"][i]); n = len(order)
    tok = np.zeros((n, T), dtype=np.int64); gaps = np.zeros((n, T), dtype=np.float32); rev = np.zeros((n, T), dtype=np.float32)
    for i, j in enumerate(order):
        tk, g, r = t["tokens"][j], t["gaps"][j], t["revenue"][j]
        if tk: tok[i, T - len(tk):] = tk; gaps[i, T - len(g):] = g; rev[i, T - len(r):] = r
    X = np.stack([tok.astype(np.float32), gaps, rev], axis=-1)  # token id (embedded in Net), gap, revenue
    y = np.array([t["label"][j] or 0 for j in order], dtype=np.float32)
    train_idx = np.array(spec["train"]); test_idx = np.array(spec["test"])
    pos = y[train_idx].mean(); m = Net(0, spec["units"], vocab=V, dim=spec["embedding"])
    ckpt = os.path.join(tempfile.mkdtemp(), "checkpoint.pt")
    sps = train(m, torch.tensor(X[train_idx]), torch.tensor(y[train_idx]), spec["epochs"], spec["batch"], spec["lr"], w1=(1 - pos) / max(pos, 1e-6), checkpoint=ckpt)
    with torch.no_grad(): p = m(torch.tensor(X[test_idx])).numpy()
    print(json.dumps({"roc_auc": roc_auc_score(y[test_idx], p), "seq_per_s": sps, "torch": torch.__version__}))

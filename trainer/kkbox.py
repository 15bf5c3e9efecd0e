"""Zhao & Pu's collaborative-filtering baseline on the KKBox challenge data: will the user play the
song again within a month?

Member id and song id go through trainable 64-d embeddings and their dot product becomes a
feature; with the other features (embedded categories: the three source fields, artist, first
genre, language, city, gender, registration channel; standardised numbers: log song length,
cleaned age, log membership days) they feed one 128-unit ReLU layer, dropout 0.5 and a linear
map to two classes (softmax cross-entropy), as in the paper. Rows keep the file's (time) order:
the first 80 % train, the next 10 % validate (early stopping), the last 10 % test. Accuracy is
reported with the majority-class rate beside it (the chance level of an uninformed model).

    [kkbox]
    dir = ""            # train.csv, songs.csv, members.csv; empty + [simulate]: written from the world
    epochs = 10

Without ``dir`` in a simulated experiment, the stage first writes a KKBox-format world from the
simulated one (:func:`trainer.data.simulate_kkbox.write_kkbox_world`) into ``<out>/kkbox/world``.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from trainer.config import EXTRA_SECTIONS
from trainer.pipeline import Context, Stage, StageError, register

log = logging.getLogger(__name__)

KEYS: dict[str, Any] = {"dir": "", "epochs": 10, "patience": 3, "batch_size": 512, "lr": 1e-3, "weight_decay": 0.0,
                        "id_dim": 64, "cat_dim": 16, "hidden": 128, "dropout": 0.5, "val_fraction": 0.1,
                        "test_fraction": 0.1, "seed": 0, "threads": 0, "bad_rows": 3}
CATEGORIES = ("source_system_tab", "source_screen_name", "source_type", "artist_name", "genre", "language",
              "city", "gender", "registered_via")
EXTRA_SECTIONS.add("kkbox")


class KKBoxNet(nn.Module):
    """Embeddings (+ the user . song dot product) and numbers -> 128 ReLU -> dropout -> 2 logits."""

    def __init__(self, n_users: int, n_songs: int, cards: dict[str, int], n_numeric: int, id_dim: int = 64,
                 cat_dim: int = 16, hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.user, self.song = nn.Embedding(n_users, id_dim), nn.Embedding(n_songs, id_dim)
        self.cats = nn.ModuleDict({c: nn.Embedding(n, cat_dim) for c, n in cards.items()})
        width = 2 * id_dim + 1 + cat_dim * len(cards) + n_numeric
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 2))

    def forward(self, user: Tensor, song: Tensor, cats: Tensor, numeric: Tensor) -> Tensor:
        """Index tensors (b,), categories (b, len(cards)) and numbers (b, n) -> (b, 2) logits."""
        eu, es = self.user(user), self.song(song)
        parts = [eu, es, (eu * es).sum(dim=1, keepdim=True)]
        parts += [emb(cats[:, j]) for j, emb in enumerate(self.cats.values())]
        return self.mlp(torch.cat(parts + [numeric], dim=1))


def _vocab(values: list[str], fit: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes 1.. for values seen in the ``fit`` rows, 0 for unseen or empty."""
    table: dict[str, int] = {}
    for i in fit.tolist():
        v = values[i]
        if v and v not in table:
            table[v] = len(table) + 1
    return np.array([table.get(v, 0) for v in values], dtype=np.int64), len(table) + 1


def encode(folder: Path, fit_fraction: float, bad: Any) -> dict[str, Any]:
    """Read the three files and encode every ``train.csv`` row; vocabularies and scalers come from
    the first ``fit_fraction`` of the rows only (later rows may hold users and songs never seen: code 0)."""
    from trainer.data.kkbox import clean_age, read_members, read_songs, read_train
    t = read_train(folder / "train.csv", bad)
    songs = read_songs(folder / "songs.csv", bad)
    members = read_members(folder / "members.csv", bad)
    fit = np.arange(int(len(t) * fit_fraction))
    s = [songs.get(x) for x in t.song_id]
    m = [members.get(x) for x in t.msno]
    raw = {"source_system_tab": t.source_system_tab, "source_screen_name": t.source_screen_name,
           "source_type": t.source_type, "artist_name": [x.artist_name if x else "" for x in s],
           "genre": [x.genre_ids[0] if x and x.genre_ids else "" for x in s],
           "language": [str(x.language) if x and x.language != -1 else "" for x in s],
           "city": [x.city if x else "" for x in m], "gender": [x.gender if x else "" for x in m],
           "registered_via": [x.registered_via if x else "" for x in m]}
    user, n_users = _vocab(t.msno, fit)
    song, n_songs = _vocab(t.song_id, fit)
    cats, cards = [], {}
    for c in CATEGORIES:
        codes, cards[c] = _vocab(raw[c], fit)
        cats.append(codes)
    length = np.array([np.log1p(x.song_length / 1000.0) if x and x.song_length > 0 else np.nan for x in s])
    age = np.array([clean_age(x.bd) if x else -1 for x in m], dtype=np.float64)
    age[age < 0] = np.nan
    days = np.array([_days(x.registration_init_time, x.expiration_date) if x else np.nan for x in m])
    numeric = []
    for col in (length, age, days):
        mu, sd = np.nanmean(col[fit]) if np.isfinite(col[fit]).any() else 0.0, np.nanstd(col[fit]) or 1.0
        z = np.where(np.isfinite(col), (col - mu) / (sd if np.isfinite(sd) and sd > 0 else 1.0), 0.0)
        numeric += [z, (~np.isfinite(col)).astype(np.float64)]          # value and a "missing" flag
    return {"user": user, "song": song, "cats": np.stack(cats, axis=1), "numeric": np.stack(numeric, axis=1)
            .astype(np.float32), "target": t.target.astype(np.int64), "n_users": n_users, "n_songs": n_songs,
            "cards": cards, "songs": len(songs), "members": len(members)}


def _days(start: str, end: str) -> float:
    from datetime import datetime
    try:
        d = (datetime.strptime(end, "%Y%m%d") - datetime.strptime(start, "%Y%m%d")).days
    except ValueError:
        return np.nan
    return float(np.log1p(max(d, 0)))


def _batches(data: dict[str, Any], rows: np.ndarray, size: int):
    for start in range(0, len(rows), size):
        r = rows[start:start + size]
        yield (torch.from_numpy(data["user"][r]), torch.from_numpy(data["song"][r]), torch.from_numpy(data["cats"][r]),
               torch.from_numpy(data["numeric"][r]), torch.from_numpy(data["target"][r]))


def _accuracy(net: KKBoxNet, data: dict[str, Any], rows: np.ndarray) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) on ``rows``."""
    net.eval()
    right, loss = 0, 0.0
    with torch.inference_mode():
        for u, s, c, x, y in _batches(data, rows, 4096):
            logits = net(u, s, c, x)
            right += int((logits.argmax(dim=1) == y).sum())
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
    return right / max(len(rows), 1), loss / max(len(rows), 1)


def run_kkbox(ctx: Context) -> dict[str, Any]:
    """The ``kkbox`` stage: (write a simulated KKBox world,) read, encode, train, test."""
    from trainer.data.badrows import BadRows
    given = ctx.config.extra.get("kkbox", {})
    unknown = sorted(set(given) - set(KEYS))
    if unknown:
        raise StageError(f"unknown key(s) {unknown} in [kkbox]; known keys: {sorted(KEYS)}")
    k = {**KEYS, **given}
    folder, written = ctx.config.resolve(k["dir"]), None
    if folder is None:
        if not ctx.config.simulate.enabled:
            raise StageError("[kkbox] dir is not set: point it at train.csv, songs.csv and members.csv")
        from trainer.data.simulate_kkbox import write_kkbox_world
        folder = ctx.dir("kkbox") / "world"
        written = write_kkbox_world(ctx.dir("simulate") / "world", folder, ctx.config.simulate.seed, int(k["bad_rows"]))
    torch.manual_seed(int(k["seed"]))
    if k["threads"]:
        torch.set_num_threads(int(k["threads"]))
    bad = BadRows()
    data = encode(folder, 1 - k["val_fraction"] - k["test_fraction"], bad)
    n = len(data["target"])
    n_fit = int(n * (1 - k["val_fraction"] - k["test_fraction"]))
    n_val = int(n * k["val_fraction"])
    rows = {"train": np.arange(n_fit), "val": np.arange(n_fit, n_fit + n_val), "test": np.arange(n_fit + n_val, n)}
    if min(len(r) for r in rows.values()) < 1:
        raise StageError(f"too few KKBox rows ({n}) to split into train, validation and test")
    net = KKBoxNet(data["n_users"], data["n_songs"], data["cards"], data["numeric"].shape[1], int(k["id_dim"]),
                   int(k["cat_dim"]), int(k["hidden"]), float(k["dropout"]))
    opt = torch.optim.Adam(net.parameters(), lr=float(k["lr"]), weight_decay=float(k["weight_decay"]))
    rng = np.random.default_rng(int(k["seed"]))
    best, best_state, best_epoch, bad_epochs, history, t0 = np.inf, None, 0, 0, [], time.monotonic()
    for epoch in range(int(k["epochs"])):
        net.train()
        for u, s, c, x, y in _batches(data, rng.permutation(rows["train"]), int(k["batch_size"])):
            loss = nn.functional.cross_entropy(net(u, s, c, x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        val_acc, val_loss = _accuracy(net, data, rows["val"])
        history.append({"epoch": epoch + 1, "val_accuracy": val_acc, "val_loss": val_loss})
        if val_loss < best - 1e-6:
            best, best_epoch, bad_epochs = val_loss, epoch + 1, 0
            best_state = {name: v.detach().clone() for name, v in net.state_dict().items()}
        else:
            bad_epochs += 1
            if bad_epochs >= int(k["patience"]):
                break
    net.load_state_dict(best_state)
    torch.save(best_state, ctx.dir("kkbox") / "kkbox_net.pt")
    acc = {p: _accuracy(net, data, r)[0] for p, r in rows.items()}
    majority = {p: float(max(data["target"][r].mean(), 1 - data["target"][r].mean())) for p, r in rows.items()}
    summary = {"rows": n, "songs": data["songs"], "members": data["members"], "bad_rows": bad.count,
               "epochs": len(history), "best_epoch": best_epoch, "seconds": round(time.monotonic() - t0, 1),
               "positive_share": round(float(data["target"].mean()), 4), "history": history,
               **{f"{p}_accuracy": round(a, 4) for p, a in acc.items()},
               **{f"{p}_majority": round(a, 4) for p, a in majority.items()}}
    if written:
        summary["simulated_world"] = written
    summary["tables"] = {"KKBox re-listen prediction (Zhao & Pu baseline)": [
        ["embeddings + 128 ReLU + dropout 0.5", {"train acc": acc["train"], "val acc": acc["val"],
                                                 "test acc": acc["test"], "test majority": majority["test"]}]]}
    return summary


register(Stage("kkbox", run_kkbox, needs=("simulate",), sections=("kkbox",), enabled=lambda cfg: "kkbox" in cfg.extra,
               help="Zhao & Pu's CF baseline on KKBox files (train.csv, songs.csv, members.csv): "
                    "embeddings + 128 ReLU + dropout, held-out accuracy"))

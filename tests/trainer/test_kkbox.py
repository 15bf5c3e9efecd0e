"""KKBox challenge readers on generated files with bad rows, and Zhao & Pu's CF baseline end to end
on a KKBox-format world written from a tiny simulated one."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import trainer.kkbox  # noqa: F401 - registers the stage
from trainer.config import config_from_dict
from trainer.data.badrows import BadRows
from trainer.data.kkbox import clean_age, read_members, read_songs, read_train
from trainer.kkbox import KKBoxNet
from trainer.pipeline import Context, run_pipeline


def test_readers_keep_good_rows_and_report_bad_ones(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(
        "msno,song_id,source_system_tab,source_screen_name,source_type,target\n"
        "u1,s1,my library,Local playlist more,local-library,1\n"
        "u1,s2,discover,,online-playlist,0\n"
        "u2,s1,search,Search,song,2\n"            # bad target
        ",s1,search,Search,song,0\n"              # empty msno
        "u2,s3,radio,Radio\n"                     # too few fields
        "u3,s3,,,,0\n", encoding="utf-8")
    bad = BadRows()
    t = read_train(tmp_path / "train.csv", bad)
    assert t.msno == ["u1", "u1", "u3"] and t.target.tolist() == [1, 0, 0] and t.source_type[2] == ""
    assert sorted(bad.lines_for(tmp_path / "train.csv")) == [4, 5, 6]
    (tmp_path / "songs.csv").write_text(
        "song_id,song_length,genre_ids,artist_name,composer,lyricist,language\n"
        's1,247640,465|958,"Earth, Wind & Fire",,,52\n'
        "s2,,465,Jay Chou,Jay Chou,Vincent Fang,3\n"
        "s3,three minutes,465,x,,,3\n"            # bad length
        "s4,1000,465,y,,,ZH\n", encoding="utf-8")  # bad language
    bad = BadRows()
    songs = read_songs(tmp_path / "songs.csv", bad)
    assert set(songs) == {"s1", "s2"} and bad.count == 2
    assert songs["s1"].artist_name == "Earth, Wind & Fire" and songs["s1"].genre_ids == ("465", "958")
    assert songs["s2"].song_length == -1 and songs["s2"].language == 3
    (tmp_path / "members.csv").write_text(
        "msno,city,bd,gender,registered_via,registration_init_time,expiration_date\n"
        "u1,1,0,,7,20110911,20170911\n"
        "u2,13,1051,female,9,2017-01-01,20180101\n"   # bad date
        "u3,5,24,male,4,20150231,20170101\n"           # no 31 February
        "u4,5,-38,male,4,20150101,20170101\n", encoding="utf-8")
    bad = BadRows()
    members = read_members(tmp_path / "members.csv", bad)
    assert set(members) == {"u1", "u4"} and bad.count == 2
    assert clean_age(members["u4"].bd) == -1 and clean_age(24) == 24
    with pytest.raises(ValueError, match="lacks column"):
        read_songs(tmp_path / "train.csv", BadRows())


def test_network_shape_and_dot_product_feature() -> None:
    net = KKBoxNet(5, 7, {"a": 3, "b": 4}, 2, id_dim=8, cat_dim=4, hidden=128)
    out = net(torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([[1, 2], [0, 3]]), torch.zeros(2, 2))
    assert out.shape == (2, 2) and net.mlp[0].in_features == 8 * 2 + 1 + 4 * 2 + 2
    assert isinstance(net.mlp[2], torch.nn.Dropout) and net.mlp[2].p == 0.5


CONFIG = {"name": "tiny-kkbox", "out_dir": "out",
          "simulate": {"enabled": True, "n_users": 80, "seed": 3,
                       "world": {"n_songs": 30, "n_genres": 3, "clip_seconds": 1.0, "bad_rows": 0}},
          "kkbox": {"epochs": 4, "batch_size": 64, "threads": 1}}


def test_kkbox_baseline_on_a_simulated_kkbox_world(tmp_path: Path) -> None:
    cfg = config_from_dict(json.loads(json.dumps(CONFIG)), tmp_path / "exp.toml")
    run_pipeline(cfg, ["kkbox"], show_progress=False)
    s = Context(cfg, cfg.out_path()).summary("kkbox")
    world = cfg.out_path() / "kkbox" / "world"
    assert {p.name for p in world.iterdir()} >= {"train.csv", "songs.csv", "members.csv"}
    assert s["bad_rows"] == 9 and s["rows"] == s["simulated_world"]["rows"] > 200      # 3 bad rows per file
    assert 0.0 < s["positive_share"] < 1.0
    for part in ("train", "val", "test"):
        assert 0.0 <= s[f"{part}_accuracy"] <= 1.0
    # the source fields carry signal in this world: the model beats the majority class on training rows
    assert s["train_accuracy"] > s["train_majority"]
    assert np.isfinite(s["history"][-1]["val_loss"])

"""Readers added for issue 13 on generated files with bad rows: Last.fm similars (folder and zip),
HetRec tag assignments and tag names (and the real HetRec files when present)."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from trainer.data import hetrec
from trainer.data.badrows import BadRows
from trainer.data.lastfm_similars import read_similars, similars_from_plays

HETREC = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "hetrec"
A, B, C = "TRAAAAW128F429D538", "TRBBBBB128F429D538", "TRCCCCC128F429D538"


def test_similars_keep_good_entries_and_report_bad_ones(tmp_path: Path) -> None:
    good = {"track_id": A, "artist": "x", "title": "y", "tags": [],
            "similars": [[B, 1], [C, "0.25"], ["NOTATRACK", 0.5], [B, 1.5], [C], [B, "high"], [C, float("nan")]]}
    root = tmp_path / "lastfm_train"
    for doc in (good, {"track_id": B, "similars": [[A, 0.75]]}, {"track_id": C}):
        p = root / doc["track_id"][2] / doc["track_id"][3] / doc["track_id"][4] / f"{doc['track_id']}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(doc))
    (root / "A" / "A" / "A" / "TRBROKEN.json").write_text("{not json")
    (root / "A" / "A" / "A" / "TRLIST.json").write_text("[1, 2]")
    bad = BadRows(max_examples=50)
    pairs = read_similars(root, bad)
    assert list(zip(pairs.source_ids, pairs.target_ids, pairs.scores.tolist(), strict=True)) == [
        (A, B, 1.0), (A, C, 0.25), (B, A, 0.75)]
    assert bad.count == 7          # 5 bad entries, one bad document, one non-document
    reasons = " ".join(bad.by_reason)
    assert "not an MSD track id" in reasons and "outside [0, 1]" in reasons and "not a number" in reasons
    m = pairs.matrix([A, B])
    assert m.shape == (2, 2) and m[0, 1] == 1.0 and m[1, 0] == 0.75 and m.nnz == 2
    z = tmp_path / "lastfm_test.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(f"lastfm_test/A/A/A/{A}.json", json.dumps(good))
    assert len(read_similars(z, BadRows())) == 2


def test_colistening_similars_scale_to_one_and_skip_unplayed() -> None:
    plays = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 0]], dtype=np.float32))
    sims = similars_from_plays(plays, np.array([True, True, True, True]), n=2)
    assert set(sims) == {0, 1, 2}                       # song 3 has no listeners
    assert sims[0][0] == (1, 1.0) and sims[2][0][0] in (0, 1)
    assert all(0 < s <= 1 for lst in sims.values() for _, s in lst)


def test_hetrec_tag_files_with_bad_rows(tmp_path: Path) -> None:
    tagged = tmp_path / "user_taggedartists.dat"
    tagged.write_bytes(b"userID\tartistID\ttagID\tday\tmonth\tyear\r\n2\t52\t13\t1\t4\t2009\r\n"
                       b"2\tx\t15\t1\t4\t2009\r\n3\t52\t-1\t1\t4\t2009\r\n4\t60\t15\t1\t4\t2009")
    bad = BadRows()
    t = hetrec.read_tag_assignments(tagged, bad)
    assert t.artist_ids.tolist() == [52, 60] and t.tag_ids.tolist() == [13, 15] and bad.count == 2
    names = tmp_path / "tags.dat"
    names.write_bytes("tagID\ttagValue\n1\tmetal\n2\tcaf\xe9\n3\n\nx\tjunk\n4\tnu m\u00e9tal\n".encode("latin-1")
                      .replace(b"nu m\xe9tal", "nu métal".encode()))
    bad = BadRows()
    assert hetrec.read_tag_names(names, bad) == {1: "metal", 2: "café", 4: "nu métal"} and bad.count == 2


@pytest.mark.skipif(not (HETREC / "user_taggedartists.dat").exists(), reason=f"real HetRec files absent: {HETREC}")
def test_real_hetrec_tags() -> None:
    bad = BadRows()
    t = hetrec.read_tag_assignments(HETREC / "user_taggedartists.dat", bad)
    names = hetrec.read_tag_names(HETREC / "tags.dat", bad)
    assert len(t) == 186_479 and len(names) == 11_946 and bad.count == 0
    assert names[1] == "metal" and set(np.unique(t.tag_ids).tolist()) <= set(names)

"""RS-DA: the neighbour table (download, verify, cache) and synonym-substitution augmentation."""
import hashlib
import http.server
import threading
from functools import partial

import pytest

from conftest import DATA, run_xlr
from xlr.methods import synonyms
from xlr.tasks import TASKS, PairSet, read_tsv
from xlr.errors import XlrError
from xlr.methods.synonyms import augment, load_neighbors, substitute

TABLE = {"good": ["great", "nice", "fine"], "food": ["meal"], "this": ["the"], "empty": []}
PAIRS = PairSet(["The food in this restaurant is pretty good", "no synonyms here"],
                ["this is good food", "nothing at all"], [1, 0], "mem")


def test_word_counts_kept_and_words_without_neighbours_never_change():
    out, _ = augment(PAIRS, TABLE, copies=20, seed=3)
    for i in range(len(out)):
        src = i // 20
        for new, old in ((out.sentence1[i], PAIRS.sentence1[src]), (out.sentence2[i], PAIRS.sentence2[src])):
            a, b = new.split(" "), old.split(" ")
            assert len(a) == len(b)
            for x, y in zip(a, b):
                assert x == y or (y in TABLE and x in TABLE[y])
    assert set(out.sentence1[20:]) == {"no synonyms here"}


def test_copies_labels_and_no_original_added():
    out, stats = augment(PAIRS, TABLE, copies=7, seed=1)
    assert len(out) == 14 and out.labels == [1] * 7 + [0] * 7
    assert stats.pairs == 2 and stats.perturbed == 1 and 0 < stats.change_rate < 1


def test_seeded_and_deterministic():
    a, _ = augment(PAIRS, TABLE, copies=10, seed=7)
    b, _ = augment(PAIRS, TABLE, copies=10, seed=7)
    c, _ = augment(PAIRS, TABLE, copies=10, seed=8)
    assert (a.sentence1, a.sentence2) == (b.sentence1, b.sentence2)
    assert (a.sentence1, a.sentence2) != (c.sentence1, c.sentence2)


def test_substitution_is_uniform_over_word_and_neighbours():
    import random

    rng = random.Random(0)
    counts = {}
    for _ in range(4000):
        w = substitute("good", TABLE, rng)
        counts[w] = counts.get(w, 0) + 1
    assert set(counts) == {"good", "great", "nice", "fine"}
    assert all(800 < c < 1200 for c in counts.values())


def test_sentences_are_perturbed_independently():
    pairs = PairSet(["good"], ["good"], [1], "mem")
    out, _ = augment(pairs, TABLE, copies=50, seed=0)
    assert any(a != b for a, b in zip(out.sentence1, out.sentence2))


@pytest.fixture
def real_table():
    path = DATA / "counterfitted_neighbors.json"
    if not path.is_file():
        pytest.skip(f"counter-fitted table not found at {path}")
    return path


def test_real_table_on_real_training_pairs(real_table, capsys):
    train = DATA / "pawsx" / "train-en-small.tsv"
    if not train.is_file():
        pytest.skip(f"{train} not found")
    table = load_neighbors(real_table)
    pairs = read_tsv(train, TASKS["pawsx"])
    _, stats = augment(pairs, table, copies=1, seed=7)
    independent = sum(1 for a, b in zip(pairs.sentence1, pairs.sentence2)
                      if any(table.get(w) for w in a.split(" ") + b.split(" ")))
    print(f"\nreal train-en-small: {stats.summary()}")
    assert 0 < stats.perturbed_ratio < 1
    assert stats.perturbed == independent


def test_local_copy_with_wrong_checksum_names_the_option(tmp_path, monkeypatch):
    bad = tmp_path / "n.json"
    bad.write_text('{"a": ["b"]}')
    with pytest.raises(XlrError, match=r"--synonyms .* has sha256 .* XLR_SYNONYMS_VERIFY=0"):
        load_neighbors(bad)
    monkeypatch.setenv("XLR_SYNONYMS_VERIFY", "0")
    assert load_neighbors(bad) == {"a": ["b"]}


def test_offline_without_cache_is_one_line_naming_the_option(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("XLR_SYNONYMS", raising=False)
    with pytest.raises(XlrError, match=r"cannot download .*pass --synonyms PATH") as e:
        load_neighbors(url="http://127.0.0.1:9/counterfitted_neighbors.json")
    assert "\n" not in str(e.value)
    assert not list(tmp_path.rglob("*"))


def serve(folder, files):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    for name, data in files.items():
        (folder / name).write_bytes(data)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_download_is_verified_cached_and_never_used_half_done(tmp_path, monkeypatch, real_table):
    data = real_table.read_bytes()
    assert hashlib.sha256(data).hexdigest() == synonyms.SHA256
    www, cache = tmp_path / "www", tmp_path / "cache"
    www.mkdir()
    server = serve(www, {"full.json": data, "half.json": data[: len(data) // 2]})
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("XLR_SYNONYMS", raising=False)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(XlrError, match="has sha256"):
            load_neighbors(url=f"{base}/half.json")
        assert not synonyms.cache_path().exists() and not list(cache.rglob("*.tmp"))
        table = load_neighbors(url=f"{base}/full.json")
        assert synonyms.cache_path().read_bytes() == data and "movie" in table
        server.shutdown()
        assert load_neighbors(url=f"{base}/full.json") == table  # from the cache, server gone
    finally:
        server.shutdown()


def test_augment_cli_writes_tsv_and_prints_ratio(tmp_path):
    src = tmp_path / "train-en.tsv"
    src.write_text("a good meal\tthis food\t1\nnothing here\tat all\t0\n")
    table = tmp_path / "t.json"
    table.write_text('{"good": ["great"], "food": ["meal"], "this": ["the"]}')
    out = tmp_path / "aug.tsv"
    proc = run_xlr("augment", "--task", "pawsx", "--input", src, "--num", "3", "--seed", "7", "--out", out,
                   "--synonyms", table, env={"XLR_SYNONYMS_VERIFY": "0"}, check=True)
    assert "perturbed 1/2 = 0.5000" in proc.stdout and "word-change rate" in proc.stdout
    lines = out.read_text().splitlines()
    assert len(lines) == 6 and all(len(line.split("\t")) == 3 for line in lines)
    again = run_xlr("augment", "--task", "pawsx", "--input", src, "--num", "3", "--seed", "7", "--out",
                    tmp_path / "aug2.tsv", "--synonyms", table, env={"XLR_SYNONYMS_VERIFY": "0"}, check=True)
    assert (tmp_path / "aug2.tsv").read_text() == out.read_text() and again.stdout == proc.stdout
    bad = run_xlr("augment", "--input", tmp_path / "missing.tsv", "--out", out, "--synonyms", table)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")

"""Hashed word and character n-grams: worked out by hand on short strings."""

from __future__ import annotations

import zlib

import torch

from neuroplast.data.ngrams import NgramHasher, char_ngrams, kept_slots, ngrams, slots_to_ids
from neuroplast.data.text import encode_texts, tokenize


def test_character_ngrams_of_a_word_by_hand() -> None:
    # "<where>" has 7 characters: five 3-grams, four 4-grams, three 5-grams
    assert char_ngrams("where") == ["<wh", "whe", "her", "ere", "re>",
                                    "<whe", "wher", "here", "ere>",
                                    "<wher", "where", "here>"]
    assert char_ngrams("a") == ["<a>"]  # "<a>" is the only 3-gram; no 4- or 5-gram fits


def test_a_text_is_its_words_bigrams_and_character_ngrams_in_order() -> None:
    words = tokenize("Not bad!", "word")
    assert words == ["not", "bad", "!"]
    assert ngrams(words) == ["w:not", "w:bad", "w:!", "b:not bad", "b:bad !",
                             "c:<no", "c:not", "c:ot>", "c:<not", "c:not>", "c:<not>",
                             "c:<ba", "c:bad", "c:ad>", "c:<bad", "c:bad>", "c:<bad>",
                             "c:<!>"]


def test_hash_slots_are_crc32_of_each_ngram_and_a_long_text_is_cut() -> None:
    words = ["not", "bad", "!", "not"]
    by_hand = [zlib.crc32(g.encode("utf-8")) % 1000 for g in ngrams(words)]  # the n-grams one by one
    assert NgramHasher(1000, 10_000).ids(words) == by_hand  # the hasher caches per word: same slots
    assert NgramHasher(1000, 5).ids(words) == by_hand[:5]


def test_kept_slots_and_ids_by_hand() -> None:
    train = [[5, 7, 5], [7, 9, 5], [11]]
    assert kept_slots(train) == [5, 7]  # 5 and 7 are in two texts, 9 and 11 in one (repeats count once)
    ids = slots_to_ids([[5, 7, 5], [7, 9, 5], [11], []], [5, 7])
    assert ids.tolist() == [[1, 2, 1], [2, 1, 0], [0, 0, 0], [0, 0, 0]]  # slot 5 -> 1, 7 -> 2, others dropped
    assert slots_to_ids([[5, 7, 5]], [5, 7], width=2).tolist() == [[1, 2]]


def test_new_text_is_encoded_as_its_training_row(tmp_path) -> None:
    from neuroplast.data import load_dataset
    from neuroplast.spec import DataSpec

    rows = ["text,label", *(f"\"{'a fine film' if i % 2 else 'a dull plot'} number {i}\",{i % 2}" for i in range(30))]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    spec = DataSpec(source="text-csv", path=tmp_path / "t.csv", text_column="text", target="label",
                    tokens="ngrams", val_fraction=0.2, test_fraction=0.2)
    data = load_dataset(spec, 0)
    pre = data.preprocess
    assert {k: pre[k] for k in ("tokens", "buckets", "char_ngrams", "word_ngrams", "hash", "min_texts")} == {
        "tokens": "ngrams", "buckets": 2**20, "char_ngrams": [3, 5], "word_ngrams": 2, "hash": "crc32", "min_texts": 2}
    assert data.vocab_size == len(pre["kept"]) + 1
    for r in (0, 1):  # each training row, encoded again as new text, gives the same ids
        i = data.extra["rows"]["train"][r]
        text = rows[1 + i].rsplit(",", 1)[0].strip('"')
        again = encode_texts([text], pre)[0]
        assert torch.equal(again, data.x_train[r][: len(again)]) and not data.x_train[r][len(again):].any()

"""A tiny CLIP-style byte-level BPE vocabulary, written by us (no download).

transformers builds a broken tokenizer from CLIPTokenizer(vocab_file=…, merges_file=…), so
the files are written into a folder and loaded with from_pretrained like any real model.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

BOS, EOS = "<|startoftext|>", "<|endoftext|>"

# Words the demo and tests use often; merges learnt over them keep token counts short.
CORPUS = """
a an the of on in with and or by at to two three one four five six seven eight nine ten
red orange yellow green teal blue purple pink white black gold silver grey gray brown
circle circles square squares triangle triangles star stars diamond diamonds ring rings
background flat geometric art style card cards deck tarot zodiac playing ace king queen jack
spades hearts clubs diamonds suit major arcana fool magician priestess empress emperor
photo portrait close mid far shot face woman man person cat dog landscape sky sea mountain
steampunk gothic art nouveau vintage modern watercolor oil painting illustration detailed
blurry low quality high sharp light dark neon glowing ornate border frame symbol layout
"""


def bytes_to_unicode() -> dict[int, str]:
    """The reversible byte → printable character map byte-level BPE tokenizers share."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def learn_merges(words: list[str], count: int, end: str = "</w>") -> list[tuple[str, str]]:
    """Plain BPE over a word list: repeatedly merge the most frequent adjacent pair.

    `end` marks a word's last symbol (CLIP style); byte-level BPE (GPT-2 / Llama 3 style)
    marks the space before a word instead and passes end="".
    """
    table = bytes_to_unicode()
    seqs = Counter()
    for w in words:
        chars = [table[b] for b in w.encode("utf-8")]
        chars[-1] += end
        seqs[tuple(chars)] += 1
    merges: list[tuple[str, str]] = []
    for _ in range(count):
        pairs: Counter = Counter()
        for seq, n in seqs.items():
            for a, b in zip(seq, seq[1:], strict=False):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        joined = best[0] + best[1]
        new: Counter = Counter()
        for seq, n in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(joined)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            new[tuple(out)] += n
        seqs = new
    return merges


def write_tokenizer_files(folder: Path, merges_count: int = 400) -> int:
    """Write vocab.json and merges.txt; returns the vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars]
    merges = learn_merges(CORPUS.split(), merges_count)
    for a, b in merges:
        tok = a + b
        if tok not in vocab_list:
            vocab_list.append(tok)
    vocab_list += [BOS, EOS]
    vocab = {t: i for i, t in enumerate(vocab_list)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return len(vocab)


def byte_level_bpe(merges_count: int = 400) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) of a byte-level BPE (words carry their leading space, as in Llama 3's
    tokenizer) learnt over CORPUS: what the builtin captioning model speaks."""
    chars = list(bytes_to_unicode().values())
    merges = learn_merges([" " + w for w in CORPUS.split()], merges_count, end="")
    vocab_list = list(chars)
    for a, b in merges:
        if a + b not in vocab_list:
            vocab_list.append(a + b)
    return {t: i for i, t in enumerate(vocab_list)}, merges

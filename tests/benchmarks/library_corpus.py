"""A generated library for bench_library.py: N files of Zipf-distributed pseudo-English (like
real prose, a few words are everywhere and most are rare) in nested folders, as Markdown,
text, HTML, code, CSV and a few PDFs; some in Chinese; with planted facts whose files the
benchmark's queries must find.

Deterministic for a seed. numpy draws the words; a 200 MB library takes about a minute.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SYLLABLES = ("ka ro mi te sa lu ne po va di ga be fo ri mu ta se lo ni pe ke zu "
             "an or el in us ar en on il um").split()
# Characters of ordinary Chinese prose (the filler) and, disjoint from them, the ones the
# planted Chinese names are made of: a name then occurs only where it was planted.
HAN_COMMON = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 1500))
HAN_NAMES = "".join(chr(c) for c in range(0x7000, 0x7000 + 400))
PDF_PAGES = 40  # reportlab is slow: a PDF holds at most this many pages of text
PDF_WORDS = PDF_PAGES * 150  # a page holds ~180 words (3 paragraphs of 5 sentences): a margin
KINDS = (("md", 40), ("txt", 30), ("html", 10), ("py", 10), ("csv", 8), ("pdf", 2))


@dataclass
class Fact:
    rel: str  # the file it was planted in
    question: str  # what a person asks the model
    code: str  # a rare token only that file holds
    name: str  # the depot's name (a rare word)


@dataclass
class Corpus:
    root: Path
    files: int = 0
    bytes: int = 0
    facts: list[Fact] = field(default_factory=list)
    cjk_facts: list[tuple[str, str]] = field(default_factory=list)  # (word, file)
    common: list[str] = field(default_factory=list)  # the most frequent words
    middling: list[str] = field(default_factory=list)  # words of rank ~1,000–5,000


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
    return sorted(words, key=lambda w: (len(w), w))  # short words first: the frequent ones


def build(root: Path, files: int, total_bytes: int, *, seed: int = 7, facts: int = 200,
          cjk_share: float = 0.02) -> Corpus:
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    vocab = np.array(vocabulary(rng, 40_000), dtype=object)
    ranks = np.arange(1, len(vocab) + 1)
    weights = 1.0 / ranks ** 1.07
    weights /= weights.sum()
    corpus = Corpus(root, common=list(vocab[:10]), middling=list(vocab[1000:5000:200]))
    sizes = np.maximum(600, np_rng.lognormal(0, 0.9, files))
    sizes = (sizes / sizes.sum() * total_bytes).astype(int)
    kinds = [k for k, n in KINDS for _ in range(n)]
    plant = dict(zip(rng.sample(range(files), facts), range(facts)))
    cjk = set(rng.sample(range(files), int(files * cjk_share)))
    for n in range(files):
        folder = root / f"area{n % 20:02}" / f"topic{(n // 20) % 25:02}"
        folder.mkdir(parents=True, exist_ok=True)
        if n in cjk:
            rel, size = _chinese(folder, n, int(sizes[n]), rng, corpus)
        else:
            kind = rng.choice(kinds)
            words = list(np_rng.choice(vocab, size=max(50, int(sizes[n]) // 5), p=weights))
            if kind == "pdf":
                words = words[:PDF_WORDS]  # what its pages hold: a fact must land inside
            fact = plant.get(n)
            if fact is not None:
                name = "".join(rng.choice(SYLLABLES).upper()[0] + rng.choice(SYLLABLES)
                               for _ in range(3))
                code = f"Q{rng.randrange(10**6):06d}X"
                sentence = f"The vault combination for depot {name} is {code}."
                at = rng.randrange(len(words))
                words[at:at] = sentence.split()
            path = folder / f"doc{n:05}.{kind}"
            size = _write(path, kind, words, rng)
            rel = path.relative_to(root).as_posix()
            if fact is not None:
                corpus.facts.append(Fact(rel, f"What is the vault combination for depot {name}?",
                                         code, name))
        corpus.files += 1
        corpus.bytes += size
    return corpus


def _sentences(words: list[str], rng: random.Random) -> list[str]:
    out, i = [], 0
    while i < len(words):
        n = rng.randint(6, 18)
        out.append(" ".join(words[i:i + n]).capitalize() + ".")
        i += n
    return out


def _write(path: Path, kind: str, words: list[str], rng: random.Random) -> int:
    sentences = _sentences(words, rng)
    paragraphs = [" ".join(sentences[i:i + 5]) for i in range(0, len(sentences), 5)]
    if kind == "md":
        text = "\n\n".join(("## " + " ".join(p.split()[:2]) + "\n\n" if i % 6 == 0 else "") + p
                           for i, p in enumerate(paragraphs))
    elif kind == "html":
        text = "<html><body>" + "".join(f"<p>{p}</p>\n" for p in paragraphs) + "</body></html>"
    elif kind == "py":
        text = "\n".join(f"# {s}\nvalue_{i} = {i}\n" for i, s in enumerate(sentences))
    elif kind == "csv":
        text = "id,name,note\n" + "\n".join(f"{i},{s.split()[0]},\"{s}\"" for i, s in
                                             enumerate(sentences))
    elif kind == "pdf":
        from fixtures.documents import write_pdf

        pages = [" ".join(paragraphs[i:i + 3]) for i in range(0, len(paragraphs), 3)][:PDF_PAGES]
        write_pdf(path, pages or ["empty"])
        return path.stat().st_size
    else:
        text = "\n\n".join(paragraphs)
    path.write_text(text, encoding="utf-8")
    return len(text.encode())


def _chinese(folder: Path, n: int, size: int, rng: random.Random, corpus: Corpus
             ) -> tuple[str, int]:
    chars = max(200, size // 3)
    text = "".join(rng.choice(HAN_COMMON) for _ in range(chars))
    sentences = [text[i:i + 30] + "。" for i in range(0, len(text), 30)]
    word = "".join(rng.choice(HAN_NAMES) for _ in range(rng.choice((2, 3, 4))))
    sentences.insert(rng.randrange(len(sentences)), f"项目代号是{word}。")
    path = folder / f"笔记{n:05}.txt"
    body = "\n".join("".join(sentences[i:i + 8]) for i in range(0, len(sentences), 8))
    path.write_text(body, encoding="utf-8")
    rel = path.relative_to(corpus.root).as_posix()
    corpus.cjk_facts.append((word, rel))
    return rel, len(body.encode())


def folder_bytes(root: Path) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)

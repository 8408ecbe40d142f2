"""Storage at scale: 10,000 conversations, 1,000,000 messages. The sidebar, opening a chat and
full-text search against their targets (sidebar ≤ 50 ms, search ≤ 30 ms).

Run: `make bench` (or `.venv/bin/python tests/benchmarks/bench_storage.py [--rebuild]`).
Prints a table and writes bench-results/storage.json.

The database is generated with plain SQL inserts through `storage.Store`'s own connection
(the real schema, migrations and FTS triggers: every message is indexed by the insert trigger,
as the app's own inserts are), then cached as bench-results/storage-10k-1m-vN.db (~1 GB,
git-ignored) so later runs skip the build (about 2 minutes here). Searches are timed on the
index as the bulk insert leaves it (FTS5's automerge, segments of several levels, as in a
database that grew message by message); the FTS5 'optimize' command, which merges them into
one, is timed on a copy with --optimize.

Messages: user turns of 10-40 words, answers of 40-160 words (~30% with reasoning), words
drawn from a Zipf distribution over 200 common English words and 30,000 made-up ones, so
common terms hit most rows and rare ones a handful; 2% of answers were regenerated (a sibling
branch); 1% of chats are in the trash, 30 pinned.
"""

from __future__ import annotations

import cProfile
import inspect
import json
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from machine import Contention, code_version, machine, note  # noqa: E402

from storage import Store  # noqa: E402

VERSION = 1  # bump when the generator changes: the cached database is rebuilt
N_CONVERSATIONS = 10_000
N_MESSAGES = 1_000_000
CACHE = ROOT / "bench-results" / f"storage-10k-1m-v{VERSION}.db"
TARGETS_MS = {"sidebar": 50, "search": 30}
REPEATS = 7
SIDEBAR_PAGE = 300  # the chats the window lists before "Show older chats"

COMMON = ("the of and to a in is it you that he was for on are with as i his they be at one "
          "have this from or had by not word but what some we can out other were all there when "
          "up use your how said an each she which do their time if will way about many then them "
          "write would like so these her long make thing see him two has look more day could go "
          "come did number sound no most people my over know water than call first who may down "
          "side been now find any new work part take get place made live where after back little "
          "only round man year came show every good me give our under name very through just "
          "form sentence great think say help low line differ turn cause much mean before move "
          "right boy old too same tell does set three want air well also play small end put home "
          "read hand port large spell add even land here must big high such follow act why ask "
          "python function error database install memory model file code test server query").split()
QUERIES = {  # what people type into the search box: common words, then rare ones
    "common": ["the", "python function", "how do", "error", "memory model"],
    "rare": ["zorvakel", "quintarion", "belmoradi", "trevalune sprockwind"],
}
PLANTED = {"zorvakel": 40, "quintarion": 8, "belmoradi": 3, "trevalune": 25, "sprockwind": 25}


def vocabulary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    syllables = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
    made_up: set[str] = set()
    while len(made_up) < 30_000:
        made_up.add("".join(rng.choice(syllables, size=rng.integers(2, 5))))
    words = COMMON + sorted(made_up - set(PLANTED))
    rank = np.arange(1, len(words) + 1, dtype=np.float64)
    p = 1.0 / rank ** 1.05
    return np.array(words, dtype=object), p / p.sum()


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="microseconds")


def build(path: Path) -> dict:
    """Generate the database at `path`; returns build figures."""
    rng = np.random.default_rng(20251122)
    words, p = vocabulary(rng)
    sizes = rng.integers(10, 91, size=N_CONVERSATIONS) * 2  # 20..180, mean 100
    sizes[:50] = 100  # the chats opened in the benchmark have exactly 100 messages
    sizes[-1] += N_MESSAGES - sizes.sum()
    assert sizes[-1] >= 2
    # Where the planted rare words go: (message index) -> word
    planted = {}
    for word, count in PLANTED.items():
        for i in rng.choice(N_MESSAGES, size=count, replace=False):
            planted.setdefault(int(i), []).append(word)

    store = Store(path)
    conn = store.conn
    # A throw-away file: no journal, no fsync, no FK checks while it is generated.
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MB
    now = time.time()
    start = time.perf_counter()
    msg_id, pos, batch_msgs, batch_convs = 0, 0, [], []
    stats_json = json.dumps({"ttft_s": 0.41, "decode_tps": 31.2, "generated_tokens": 212,
                             "finish_reason": "stop", "effort": "medium"})
    pinned = set(rng.choice(N_CONVERSATIONS, size=30, replace=False).tolist())
    trashed = set(rng.choice(N_CONVERSATIONS, size=N_CONVERSATIONS // 100, replace=False).tolist())
    # Conversation c was last active (N_CONVERSATIONS - c) * ~1.7 hours ago: two years in all.
    for c in range(N_CONVERSATIONS):
        n = int(sizes[c])
        # user, answer, user, answer…; 2% of answers were regenerated: a newer sibling follows
        roles: list[str] = []
        while len(roles) < n:
            roles.append("user")
            if len(roles) < n:
                roles.append("assistant")
            if len(roles) + 1 < n and rng.random() < 0.02:
                roles.append("assistant")
        user = np.array([role == "user" for role in roles])
        lengths = np.where(user, rng.integers(10, 41, size=n), rng.integers(40, 161, size=n))
        reasoning_len = np.where(~user & (rng.random(n) < 0.3), rng.integers(20, 80, size=n), 0)
        draws = rng.choice(len(words), size=int(lengths.sum() + reasoning_len.sum()), p=p)
        texts = words[draws]
        t0 = now - (N_CONVERSATIONS - c) * 6000.0 - n * 40
        cid = c + 1
        parent, k, first_user = None, 0, None
        for i, role in enumerate(roles):
            content = " ".join(texts[k:k + lengths[i]])
            k += lengths[i]
            reasoning = " ".join(texts[k:k + reasoning_len[i]])
            k += reasoning_len[i]
            extra = planted.get(pos)
            if extra:
                content += " " + " ".join(extra)
            content = content[0].upper() + content[1:] + "."
            msg_id += 1
            sibling_of = role == "assistant" and roles[i - 1] == "assistant"
            this_parent = batch_msgs[-1][2] if sibling_of else parent  # the older answer's parent
            stamp = _stamp(t0 + i * 40)
            batch_msgs.append((msg_id, cid, this_parent, role, content, reasoning, "complete",
                               "medium" if role == "assistant" else None,
                               "gpt-oss-20b" if role == "assistant" else None,
                               stats_json if role == "assistant" else "{}", stamp, stamp))
            if first_user is None:
                first_user = content
            parent = msg_id
            pos += 1
        title = " ".join(first_user.split())
        title = title if len(title) <= 60 else title[:59].rstrip() + "…"
        batch_convs.append((cid, title, _stamp(t0), _stamp(t0 + n * 40), msg_id,
                            int(c in pinned), _stamp(now - 86400) if c in trashed else None))
        if len(batch_convs) == 250 or c == N_CONVERSATIONS - 1:
            with store.transaction():
                conn.executemany(
                    "INSERT INTO conversations (id, title, created_at, updated_at, current_leaf_id,"
                    " pinned, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?)", batch_convs)
                conn.executemany(
                    "INSERT INTO messages (id, conversation_id, parent_id, role, content, reasoning,"
                    " status, effort, model_name, stats, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch_msgs)
            batch_msgs, batch_convs = [], []
            if (c + 1) % 1000 == 0:
                print(f"  built {c + 1:,} conversations, {msg_id:,} messages "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    built_s = time.perf_counter() - start
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    counts = conn.execute("SELECT (SELECT COUNT(*) FROM conversations),"
                          " (SELECT COUNT(*) FROM messages)").fetchone()
    store.close()
    return {"build_s": round(built_s, 1), "conversations": counts[0], "messages": counts[1],
            "db_mb": round(path.stat().st_size / 1e6)}


def timed(fn, repeats: int = REPEATS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, result


def measure(store: Store, label: str) -> dict:
    out: dict = {}
    # The sidebar: the first call after opening reads the pages from the OS cache.
    start = time.perf_counter()
    store.conversations.list()
    out["sidebar_first_ms"] = round((time.perf_counter() - start) * 1000, 1)
    ms, convs = timed(store.conversations.list)
    out["sidebar_ms"] = round(ms, 1)
    out["sidebar_rows"] = len(convs)
    ms, _ = timed(lambda: store.conn.execute(
        "SELECT id, title, created_at, updated_at, current_leaf_id, pinned, deleted_at, preset_id"
        " FROM conversations WHERE deleted_at IS NULL"
        " ORDER BY pinned DESC, updated_at DESC, id DESC").fetchall())
    out["sidebar_sql_only_ms"] = round(ms, 1)  # the same query as plain tuples: SQLite's share
    if "limit" in inspect.signature(store.conversations.list).parameters:  # the window's page
        ms, _ = timed(lambda: store.conversations.list(SIDEBAR_PAGE))
        out[f"sidebar_first_{SIDEBAR_PAGE}_ms"] = round(ms, 1)
    # Opening a chat: its shown branch (~100 messages)
    ids = [r[0] for r in store.conn.execute(
        "SELECT conversation_id FROM messages GROUP BY conversation_id HAVING COUNT(*) = 100"
        " LIMIT 20")]
    times = []
    for cid in ids:
        ms, thread = timed(lambda cid=cid: store.messages.thread(cid), 3)
        times.append(ms)
    out["open_thread_ms"] = round(statistics.median(times), 1)
    out["open_thread_messages"] = len(thread)
    # Search
    per_query = {}
    for kind, queries in QUERIES.items():
        for q in queries:
            ms, hits = timed(lambda q=q: store.search(q), 5)
            per_query[q] = {"kind": kind, "ms": round(ms, 1), "hits": len(hits),
                            "matches": store.conn.execute(
                                "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?",
                                (" ".join(f'"{w}"*' for w in q.split()),)).fetchone()[0]}
    out["search"] = per_query
    for kind in QUERIES:
        out[f"search_{kind}_median_ms"] = round(statistics.median(
            v["ms"] for v in per_query.values() if v["kind"] == kind), 1)
    out["search_median_ms"] = round(statistics.median(v["ms"] for v in per_query.values()), 1)
    out["search_worst_ms"] = max(v["ms"] for v in per_query.values())
    print(f"  [{label}] measured", flush=True)
    return out


def start_up(path: Path) -> dict:
    """What a start costs on this database: a plain Store, open_store (schema and small-table
    check, recovery), the full PRAGMA quick_check it runs on small files or after a crash,
    and a daily backup (quick_check + copy), as storage/startup.py weighs them."""
    from storage import daily_backup, open_store
    from storage.backups import quick_check
    from storage.startup import _probe

    out: dict = {"db_mb": round(path.stat().st_size / 2**20)}
    out["store_open_ms"] = round(timed(lambda: Store(path).close(), 5)[0], 1)
    out["open_store_ms"] = round(timed(lambda: open_store(path)[0].close(), 5)[0], 1)
    out["partial_check_ms"] = round(timed(lambda: _probe(path, full=False), 5)[0], 1)
    with Store(path) as store:
        out["quick_check_s"] = round(timed(lambda: quick_check(store.conn), 2)[0] / 1000, 2)
        folder = Path(tempfile.mkdtemp(prefix="hearth-bench-backup-", dir=path.parent))
        copy = folder / path.name
        shutil.copy(path, copy)  # daily_backup writes next to the database it copies
        with Store(copy) as other:
            start = time.perf_counter()
            daily_backup(other)
            out["daily_backup_s"] = round(time.perf_counter() - start, 2)
        shutil.rmtree(folder, ignore_errors=True)
    out["quick_check_ms_per_mb"] = round(out["quick_check_s"] * 1000 / out["db_mb"], 2)
    print("  [start-up] measured", flush=True)
    return out


SIDEBAR_WIDGET = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6 import QtWidgets
from app.gui.sidebar import Sidebar
from storage import Store
app = QtWidgets.QApplication([])
store = Store(sys.argv[2])
conversations = store.conversations.list()
sidebar = Sidebar()
for n in (100, 1000, len(conversations)):
    start = time.perf_counter()
    sidebar.set_conversations(conversations[:n], conversations[0].id)
    print(n, round((time.perf_counter() - start) * 1000, 1), sys.getrefcount(None), flush=True)
"""


def sidebar_widget(path: Path) -> dict:
    """Filling the real sidebar widget (app/gui/sidebar.py) with 100, 1,000 and all the chats, in a
    child process: the window refreshes it after every turn. Not a storage figure, but where
    the list goes; a crash is reported, not raised."""
    proc = subprocess.run([sys.executable, "-c", SIDEBAR_WIDGET, str(ROOT), str(path)],
                          capture_output=True, text=True, timeout=300)
    out = {}
    for line in proc.stdout.splitlines():
        n, ms, nones = line.split()
        out[f"{int(n)}_chats_ms"] = float(ms)
        out[f"{int(n)}_chats_none_refcount_after"] = int(nones)
    if proc.returncode != 0:
        out["crashed"] = next((l for l in proc.stderr.splitlines() if "Fatal" in l),
                              f"exit code {proc.returncode}")
    return out


def profile(fn, path: Path) -> str:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    prof.dump_stats(str(path))
    lines = []
    stats = pstats.Stats(str(path))
    for (file, line, name), (_, nc, tt, _, _) in sorted(
            stats.stats.items(), key=lambda kv: -kv[1][2])[:6]:
        lines.append(f"    {tt * 1000:8.1f} ms self  {nc:>8} calls  {Path(file).name}:{line} {name}")
    return "\n".join(lines)


def main() -> None:
    rebuild = "--rebuild" in sys.argv
    results: dict = {"machine": machine(), "code": code_version(), "targets_ms": TARGETS_MS}
    CACHE.parent.mkdir(exist_ok=True)
    meta = CACHE.with_suffix(".json")
    if rebuild or not (CACHE.exists() and meta.exists()):
        for stale in CACHE.parent.glob("storage-10k-1m-v*.db*"):
            stale.unlink()
        tmp = Path(tempfile.mkdtemp(prefix="hearth-bench-storage-", dir=CACHE.parent))
        print(f"building {N_CONVERSATIONS:,} conversations / {N_MESSAGES:,} messages…", flush=True)
        figures = build(tmp / "hearth.db")
        shutil.move(tmp / "hearth.db", CACHE)
        shutil.rmtree(tmp, ignore_errors=True)
        meta.write_text(json.dumps(figures))
    results["database"] = json.loads(meta.read_text())
    results["database"]["cached_at"] = str(CACHE.relative_to(ROOT))

    store = Store(CACHE)
    # A schema change since the cache was built made Store back it up first: a 1 GB copy
    # this benchmark has no use for.
    shutil.rmtree(CACHE.parent / "backups", ignore_errors=True)
    contention = Contention().__enter__()
    try:
        results["as_built"] = measure(store, "as built")
        prof_dir = ROOT / "bench-results"
        results["profiles"] = {
            "sidebar": profile(store.conversations.list, prof_dir / "storage-sidebar.prof"),
            "search_the": profile(lambda: store.search("the"), prof_dir / "storage-search.prof")}
    finally:
        store.close()
    contention.__exit__(None, None, None)
    results["contention"] = contention.report()
    results["sidebar_widget"] = sidebar_widget(CACHE)
    results["start_up"] = start_up(CACHE)
    if "--optimize" in sys.argv:
        copy = Path(tempfile.mkdtemp(prefix="hearth-bench-storage-", dir=CACHE.parent)) / "hearth.db"
        shutil.copy(CACHE, copy)
        store = Store(copy)
        start = time.perf_counter()
        store.conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
        results["optimize_s"] = round(time.perf_counter() - start, 1)
        results["optimized"] = measure(store, "optimized")
        store.close()
        shutil.rmtree(copy.parent, ignore_errors=True)

    db, a = results["database"], results["as_built"]
    print(f"\n{db['conversations']:,} conversations, {db['messages']:,} messages, {db['db_mb']:,} MB "
          f"(built in {db['build_s']} s)")
    rows = [("sidebar: conversations.list()", a["sidebar_ms"], TARGETS_MS["sidebar"]),
            ("  first call after opening", a["sidebar_first_ms"], None),
            *([(f"  the window's page: list({SIDEBAR_PAGE})", a[f"sidebar_first_{SIDEBAR_PAGE}_ms"],
                TARGETS_MS["sidebar"])] if f"sidebar_first_{SIDEBAR_PAGE}_ms" in a else []),
            ("  the same query as tuples (SQLite only)", a["sidebar_sql_only_ms"], None),
            (f"open: messages.thread() ({a['open_thread_messages']} messages)", a["open_thread_ms"], None)]
    for q, v in a["search"].items():
        rows.append((f"search {q!r} ({v['kind']}, {v['matches']:,} matches)", v["ms"], None))
    rows += [("search: median of all queries", a["search_median_ms"], TARGETS_MS["search"]),
             ("search: median, common terms", a["search_common_median_ms"], TARGETS_MS["search"]),
             ("search: median, rare terms", a["search_rare_median_ms"], TARGETS_MS["search"]),
             ("search: worst query", a["search_worst_ms"], TARGETS_MS["search"])]
    if "optimized" in results:
        o = results["optimized"]
        rows += [(f"after FTS 'optimize' ({results['optimize_s']} s): search median",
                  o["search_median_ms"], TARGETS_MS["search"]),
                 ("  common terms", o["search_common_median_ms"], TARGETS_MS["search"]),
                 ("  rare terms", o["search_rare_median_ms"], TARGETS_MS["search"])]
    u = results["start_up"]
    rows += [("start: Store()", u["store_open_ms"], None),
             ("start: open_store() (schema, small tables, recovery)", u["open_store_ms"], None),
             ("  its partial check", u["partial_check_ms"], None),
             (f"full PRAGMA quick_check ({u['quick_check_ms_per_mb']} ms/MB)",
              u["quick_check_s"] * 1000, None),
             ("daily_backup() (quick_check + copy)", u["daily_backup_s"] * 1000, None)]
    w = results["sidebar_widget"]
    at = next(i for i, r in enumerate(rows) if r[0].startswith("  the same query")) + 1
    rows[at:at] = [(f"  Sidebar.set_conversations, {key.split('_')[0]} chats (widget)", value, None)
                 for key, value in w.items() if key.endswith("_chats_ms")]
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'ms':>8}  target")
    for name, ms, target in rows:
        verdict = "" if target is None else f"≤ {target}  {'ok' if ms <= target else 'MISSED'}"
        print(f"{name:<{width}}  {ms:>8.1f}  {verdict}")
    if "crashed" in w:
        print(f"Sidebar.set_conversations with all {a['sidebar_rows']:,} chats CRASHED: {w['crashed']}")
    for name, text in results["profiles"].items():
        print(f"cProfile, {name} (top self time):\n{text}")
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "storage.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

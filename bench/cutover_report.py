#!/usr/bin/env python3
"""Report of bench/cutover.sh: reads its rounds.tsv (one row per cutover, with
the wall-clock times of the CLI calls and the directory holding that round's
pgbench logs and CLI answers), prints a table and writes the JSON.

Usage: cutover_report.py ROUNDS_TSV JSON_OUT  (settings in CB_* variables)

Every time here is wall clock in seconds (pgbench -l gives each transaction's
completion time as epoch seconds + microseconds and its latency in
microseconds; the script takes EPOCHREALTIME around each CLI call)."""

import csv
import datetime
import glob
import json
import math
import os
import re
import sys

E = os.environ


def pct(sorted_xs, p):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_xs:
        return None
    k = max(1, math.ceil(p / 100.0 * len(sorted_xs)))
    return sorted_xs[k - 1]


def dist(xs):
    xs = sorted(xs)
    if not xs:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    return {"n": len(xs), "p50_ms": r3(pct(xs, 50)), "p99_ms": r3(pct(xs, 99)), "max_ms": r3(xs[-1]),
            "mean_ms": r3(sum(xs) / len(xs))}


def r3(x):
    return None if x is None else round(x, 3)


def overlap(a0, a1, b0, b1):
    return max(0.0, min(a1, b1) - max(a0, b0))


def iso_ts(text):
    """Epoch seconds of an ISO UTC time such as 2026-11-30T10:21:57.415Z."""
    return datetime.datetime.fromisoformat(text.rstrip("Z")).replace(tzinfo=datetime.timezone.utc).timestamp()


def read_json(path):
    try:
        with open(path) as f:
            text = f.read()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def read_txlogs(rdir):
    """[(instance, start, end, latency_s)] and the count of failed lines."""
    txs, failed = [], 0
    for path in sorted(glob.glob(os.path.join(rdir, "txlog*"))):
        m = re.match(r"txlog(\d+)\.", os.path.basename(path))
        inst = int(m.group(1)) if m else -1
        with open(path) as f:
            for line in f:
                cols = line.split()
                if len(cols) < 6:
                    continue
                try:
                    lat = int(cols[2]) / 1e6
                except ValueError:       # 'failed', 'skipped', ...
                    failed += 1
                    continue
                end = int(cols[4]) + int(cols[5]) / 1e6
                txs.append((inst, end - lat, end, lat))
    return txs, failed


def applied_at(work, n_inst, epoch):
    """{instance: wall-clock time it applied `epoch`} from its log
    (event=coord_applied, ts in UTC with milliseconds)."""
    out = {}
    if epoch is None:
        return out
    for i in range(n_inst):
        try:
            with open(os.path.join(work, "lms%d.log" % i), errors="replace") as f:
                for line in f:
                    if "event=coord_applied" in line and re.search(r"\bepoch=%d\b" % epoch, line):
                        m = re.match(r"ts=(\S+?)Z?\s", line)
                        if m:
                            ts = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
                            out[i] = ts.timestamp()
                            break
        except (OSError, ValueError):
            pass
    return out


def log_ts(line):
    m = re.match(r"ts=(\S+?)Z?\s", line)
    return iso_ts(m.group(1)) if m else None


def debug_timeline(work, n_inst, rnd, c0, c1):
    """With --log-level debug: round rnd's orchestrator steps (cutover_step:
    ms after its begin or commit call came in) and, from the instances'
    queued_answered lines logged between commit issued and 5 s after it
    returned, when each queued request was released after its instance
    applied the commit and how long its answer then took.  None without
    those lines."""
    steps, n_begin = {}, 0
    try:
        with open(os.path.join(work, "orchestrator.log"), errors="replace") as f:
            for line in f:
                m = re.search(r"event=cutover_step step=(\S+) at_ms=([0-9.]+)", line)
                if not m:
                    continue
                if m.group(1) == "begin_received":
                    n_begin += 1
                if n_begin == rnd:
                    steps[m.group(1)] = float(m.group(2))
    except OSError:
        pass
    release, answer, promoted, n = [], [], 0, 0
    for i in range(n_inst):
        try:
            with open(os.path.join(work, "lms%d.log" % i), errors="replace") as f:
                for line in f:
                    if "event=queued_answered" not in line:
                        continue
                    t = log_ts(line)
                    m = re.search(r"release_after_apply_ms=([-0-9.]+) answer_ms=([0-9.]+) promoted=(\d)", line)
                    if t is None or not m or not (c0 <= t <= c1 + 5):
                        continue
                    n += 1
                    if float(m.group(1)) >= 0:
                        release.append(float(m.group(1)))
                    answer.append(float(m.group(2)))
                    promoted += m.group(3) == "1"
        except OSError:
            pass
    if not steps and not n:
        return None
    return {"orchestrator_steps_ms": steps, "queued_requests_logged": n, "promoted": promoted,
            "released_after_apply": dist(release), "answered_after_release": dist(answer)}


def pgbench_summary(rdir):
    out = {"processed": 0, "failed": 0, "aborted_clients": 0, "errors": []}
    for path in sorted(glob.glob(os.path.join(rdir, "pgbench*.out"))):
        with open(path, errors="replace") as f:
            text = f.read()
        m = re.search(r"number of transactions actually processed: (\d+)", text)
        out["processed"] += int(m.group(1)) if m else 0
        m = re.search(r"number of failed transactions: (\d+)", text)
        out["failed"] += int(m.group(1)) if m else 0
        if not m:
            out["errors"].append("%s: no summary" % os.path.basename(path))
        out["aborted_clients"] += len(re.findall(r"client \d+ aborted", text))
        for line in text.splitlines():
            if re.search(r"error|FATAL|aborted", line, re.I) and len(out["errors"]) < 10:
                out["errors"].append("%s: %s" % (os.path.basename(path), line.strip()[:300]))
    return out


def analyse(row, warmup):
    rdir = row["log_dir"]
    b0, b1, c0, c1 = (float(row[k]) for k in ("begin_start", "begin_end", "commit_start", "commit_end"))
    begin = read_json(os.path.join(rdir, "begin.json")) or {}
    commit = read_json(os.path.join(rdir, "commit.json")) or {}
    txs, failed_lines = read_txlogs(rdir)
    pgb = pgbench_summary(rdir)
    ok = row["begin_rc"] == "0" and row["commit_rc"] == "0"

    lag_ms = commit.get("replication_lag_ms")
    # commit as each instance applied it (its log): until then it was paused
    # and drained, so whatever a client had outstanding at that moment was
    # waiting in its queue (commit issued, when a log has no such line)
    applied = applied_at(os.path.dirname(rdir.rstrip("/")), int(E.get("CB_INSTANCES", "3")), commit.get("epoch"))
    script_s = float(row["script_catchup_s"] or 0)
    reversed_ = row["replication_reversed"] == "1"
    check = commit.get("replication_check") or {}
    written_at = check.get("watermark_written_at")
    if script_s > 0:
        # the script waited for replication (and reversed it) between begin
        # and commit; commit skipped its own check
        catch0, catch1 = c0 - script_s, c0
    elif lag_ms is not None and written_at:
        # from the watermark's write (by begin once every instance drained,
        # or by commit) until commit saw it on the target; when it was
        # there at commit's first look, when it arrived is unknown: nothing
        # is taken as catch-up (conservative)
        catch0 = iso_ts(written_at)
        catch1 = catch0 if check.get("caught_up_before_commit") else catch0 + lag_ms / 1e3
    elif lag_ms is not None:
        # inside commit, right before the switch: it ends when the store
        # transition is written, moments before the first instance applies it
        catch1 = min(applied.values()) if applied else c0 + lag_ms / 1e3
        catch0 = catch1 - lag_ms / 1e3
    else:
        catch0 = catch1 = c0
    catch_ms = (catch1 - catch0) * 1e3

    base = [t for t in txs if b0 - warmup / 2.0 <= t[2] < b0]
    base_lat = sorted(t[3] * 1e3 for t in base)
    base_p50 = pct(base_lat, 50) or 0.0
    overl = [t for t in txs if t[1] < c1 and t[2] > b0]
    queued = [t for t in txs if t[1] <= applied.get(t[0], c0) < t[2]]
    after = [t for t in txs if t[1] >= c1 + 1.0]
    added = [t[3] * 1e3 - base_p50 for t in queued]
    beyond = [t[3] * 1e3 - base_p50 - overlap(t[1], t[2], catch0, catch1) * 1e3 for t in queued]
    release = [(t[2] - applied[t[0]]) * 1e3 for t in queued if t[0] in applied]
    per_inst = {}
    for inst in sorted({t[0] for t in queued}):
        per_inst[str(inst)] = dist([t[3] * 1e3 - base_p50 - overlap(t[1], t[2], catch0, catch1) * 1e3
                                    for t in queued if t[0] == inst])

    def tps(lo, hi):
        n = sum(1 for t in txs if lo <= t[2] < hi)
        return round(n / (hi - lo), 1) if hi > lo else None

    last_end = max((t[2] for t in txs), default=c1)
    writes = {"expected_on_new": int(row["writes_expected"]), "on_new": int(row["writes_new"]),
              "old_at_commit": int(row["writes_old_at_commit"]), "old_after": int(row["writes_old_after"])}
    writes["all_on_new"] = writes["expected_on_new"] == writes["on_new"]
    if reversed_:
        # replication now runs new -> old: the old side gets every write back
        writes["old_side_check"] = "replication reversed: the old side has every write too"
        writes["old_side_ok"] = writes["old_after"] == writes["expected_on_new"]
    else:
        writes["old_side_check"] = "no write reached the old side after the commit"
        writes["old_side_ok"] = writes["old_at_commit"] == writes["old_after"]
    no_failures = (pgb["failed"] == 0 and pgb["aborted_clients"] == 0 and failed_lines == 0
                   and row["pgbench_rc"] == "0")
    return {
        "round": int(row["round"]), "from": row["from"], "to": row["to"], "cutover_ok": ok,
        "cutover_id": commit.get("cutover_id", begin.get("cutover_id")),
        "pause": {
            "window_ms": r3((c1 - b0) * 1e3), "begin_call_ms": r3((b1 - b0) * 1e3),
            "between_calls_ms": r3((c0 - b1) * 1e3), "commit_call_ms": r3((c1 - c0) * 1e3),
            "orchestrator_paused_ms": r3(commit.get("paused_ms")),
            "replication_lag_ms": r3(lag_ms), "script_catch_up_ms": r3(script_s * 1e3) if script_s else None,
            "replication_reversed_while_paused": reversed_,
            "watermark_written_by": check.get("watermark_written_by"),
            "commit_wait_for_watermark_ms": r3(check.get("commit_wait_ms")),
            "caught_up_before_commit": check.get("caught_up_before_commit"),
            "catch_up_ms": r3(catch_ms),
            "window_minus_catch_up_ms": r3((c1 - b0) * 1e3 - catch_ms),
        },
        "latency": {
            "baseline": dist(base_lat), "overlapping": dist([t[3] * 1e3 for t in overl]),
            "queued": dist([t[3] * 1e3 for t in queued]), "after": dist([t[3] * 1e3 for t in after]),
        },
        "added_latency_queued": dist(added),
        "added_latency_queued_minus_catch_up": dist(beyond),
        "added_minus_catch_up_by_instance": per_inst,
        # where a queued transaction's wait sits: when it was sent (after begin
        # was issued) and how long after commit returned it completed
        "queued_sent_after_begin_issued": dist([(t[1] - b0) * 1e3 for t in queued]),
        "queued_done_after_commit_returned": dist([(t[2] - c1) * 1e3 for t in queued]),
        "queued_done_after_instance_applied_commit": dist(release),
        "instance_applied_commit_after_commit_issued_ms": {str(i): r3((a - c0) * 1e3) for i, a in applied.items()},
        "debug_timeline": debug_timeline(os.path.dirname(rdir.rstrip("/")), int(E.get("CB_INSTANCES", "3")),
                                         int(row["round"]), c0, c1),
        "tps": {"before": tps(b0 - warmup / 2.0, b0), "after": tps(c1 + 1.0, last_end)},
        "pgbench": dict(pgb, failed_log_lines=failed_lines, exit_status=int(row["pgbench_rc"])),
        "no_failed_transactions": no_failures,
        "writes": writes,
        "cli": {"begin": begin, "commit": commit},
    }


def fmt(x, spec=".1f"):
    return "NA" if x is None else format(x, spec)


def main():
    tsv, json_out = sys.argv[1:3]
    with open(tsv) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    warmup = float(E.get("CB_WARMUP", "10"))
    target = float(E.get("CB_TARGET_MS", "100"))
    rounds = [analyse(r, warmup) for r in rows]

    for rd in rounds:
        p, lat = rd["pause"], rd["latency"]
        a, b = rd["added_latency_queued"], rd["added_latency_queued_minus_catch_up"]
        print()
        print("== round %d: cutover %s -> %s (cutover_id %s) %s" % (
            rd["round"], rd["from"], rd["to"], rd["cutover_id"], "committed" if rd["cutover_ok"] else "FAILED"))
        print("pause window (begin issued -> commit returned) %s ms = begin %s + between %s + commit %s"
              % (fmt(p["window_ms"]), fmt(p["begin_call_ms"]), fmt(p["between_calls_ms"]),
                 fmt(p["commit_call_ms"])))
        print("  orchestrator paused_ms %s; catch-up wait %s ms (%s); window - catch-up %s ms" % (
            fmt(p["orchestrator_paused_ms"]), fmt(p["catch_up_ms"]),
            ("commit's replication_lag_ms, watermark written by %s, commit waited %s ms%s"
             % (p["watermark_written_by"] or "commit", fmt(p["commit_wait_for_watermark_ms"]),
                ", already there at commit: taken as 0" if p["caught_up_before_commit"] else ""))
            if p["script_catch_up_ms"] is None
            else "the script's wait for replication%s, before commit --skip-replication-check"
            % (" and reversing it" if p["replication_reversed_while_paused"] else ""), fmt(p["window_minus_catch_up_ms"])))
        print("%-34s %7s %9s %9s %9s" % ("latency (ms)", "n", "p50", "p99", "max"))
        for name, key in (("baseline (before begin)", "baseline"), ("overlapping the pause window", "overlapping"),
                          ("queued (outstanding at release)", "queued"), ("after (from commit + 1 s)", "after")):
            d = lat[key]
            print("%-34s %7d %9s %9s %9s" % (name, d["n"], fmt(d["p50_ms"]), fmt(d["p99_ms"]), fmt(d["max_ms"])))
        print("%-34s %7d %9s %9s %9s" % ("added, queued (lat - base p50)", a["n"], fmt(a["p50_ms"]),
                                         fmt(a["p99_ms"]), fmt(a["max_ms"])))
        print("%-34s %7d %9s %9s %9s" % ("added - catch-up wait, queued", b["n"], fmt(b["p50_ms"]),
                                         fmt(b["p99_ms"]), fmt(b["max_ms"])))
        s_, d_ = rd["queued_sent_after_begin_issued"], rd["queued_done_after_commit_returned"]
        print("queued: sent %s/%s/%s ms (p50/p99/max) after begin was issued, done %s/%s/%s ms after commit"
              " returned" % (fmt(s_["p50_ms"]), fmt(s_["p99_ms"]), fmt(s_["max_ms"]), fmt(d_["p50_ms"]),
                             fmt(d_["p99_ms"]), fmt(d_["max_ms"])))
        a_ = rd["queued_done_after_instance_applied_commit"]
        print("        done %s/%s/%s ms after their instance applied the commit (its log; applied %s ms after"
              " commit was issued)" % (fmt(a_["p50_ms"]), fmt(a_["p99_ms"]), fmt(a_["max_ms"]),
                                       "/".join(fmt(v) for v in rd["instance_applied_commit_after_commit_issued_ms"]
                                                .values()) or "NA"))
        tl = rd["debug_timeline"]
        if tl:
            r_, a2 = tl["released_after_apply"], tl["answered_after_release"]
            print("debug: %d queued requests (%d on a promoted standby): released %s/%s/%s ms (p50/p99/max)"
                  " after their instance applied the commit, answered %s/%s/%s ms after release" % (
                      tl["queued_requests_logged"], tl["promoted"], fmt(r_["p50_ms"]), fmt(r_["p99_ms"]),
                      fmt(r_["max_ms"]), fmt(a2["p50_ms"]), fmt(a2["p99_ms"]), fmt(a2["max_ms"])))
            print("debug: orchestrator steps (ms after the call came in): " +
                  ", ".join("%s %s" % (k, fmt(v)) for k, v in tl["orchestrator_steps_ms"].items()))
        pg, w = rd["pgbench"], rd["writes"]
        print("tps before %s, after %s; pgbench: %d processed, %d failed, %d aborted clients, exit %d" % (
            fmt(rd["tps"]["before"]), fmt(rd["tps"]["after"]), pg["processed"], pg["failed"],
            pg["aborted_clients"], pg["exit_status"]))
        print("writes: %d expected on %s, %d there (%s); %s: %d at commit, %d at the end (%s: %s)" % (
            w["expected_on_new"], rd["to"], w["on_new"], "ok" if w["all_on_new"] else "MISMATCH",
            rd["from"], w["old_at_commit"], w["old_after"], w["old_side_check"],
            "ok" if w["old_side_ok"] else "NOT OK"))
        for e in pg["errors"]:
            print("  pgbench: " + e)

    p99s = [rd["added_latency_queued_minus_catch_up"]["p99_ms"] for rd in rounds if rd["cutover_ok"]]
    raw99 = [rd["added_latency_queued"]["p99_ms"] for rd in rounds if rd["cutover_ok"]]
    worst = max((x for x in p99s if x is not None), default=None)
    met = (worst is not None and worst <= target and len(p99s) == len(rounds)
           and all(rd["no_failed_transactions"] for rd in rounds))
    summary = {
        "target_p99_added_ms": target,
        "p99_added_minus_catch_up_ms": p99s, "p99_added_raw_ms": raw99,
        "worst_p99_added_minus_catch_up_ms": worst,
        "met": met,
        "no_failed_transactions": all(rd["no_failed_transactions"] for rd in rounds),
        "writes_ok": all(rd["writes"]["all_on_new"] and rd["writes"]["old_side_ok"] for rd in rounds),
    }
    print()
    print("target: p99 added latency of queued requests beyond the catch-up wait <= %g ms: %s (worst p99 %s ms;"
          " raw p99 %s ms); failed transactions: %s; writes: %s" % (
              target, "MET" if met else "MISSED", fmt(worst), ", ".join(fmt(x) for x in raw99),
              "none" if summary["no_failed_transactions"] else "SOME", "ok" if summary["writes_ok"] else "NOT OK"))
    print("machine: %s CPUs, load average %s at the end" % (E.get("CB_NPROC"), E.get("CB_LOAD")))

    rate = E.get("CB_RATE") or None
    result = {
        "timestamp": E.get("CB_TS"),
        "config": {"clients": int(E["CB_CLIENTS"]), "instances": int(E["CB_INSTANCES"]),
                   "scale": int(E["CB_SCALE"]), "warmup_s": int(E["CB_WARMUP"]), "tail_s": int(E["CB_TAIL"]),
                   "budget_s": int(E["CB_BUDGET"]), "rounds": int(E["CB_ROUNDS"]), "script": E["CB_SCRIPT"],
                   "protocol": E["CB_PROTOCOL"], "rate_tps": int(rate) if rate else None, "sslmode": "disable",
                   "replication": "PostgreSQL logical replication source -> target (pgbench tables, "
                                  "_molt_lms.watermark)"},
        "host": {"nproc": int(E["CB_NPROC"]), "loadavg_at_end": E.get("CB_LOAD"), "kernel": E.get("CB_KERNEL"),
                 "postgresql": E.get("CB_PG_VERSION"), "molt_lms": E.get("CB_LMS_VERSION")},
        "definitions": {
            "pause_window": "begin issued -> commit returned (CLI calls, wall clock)",
            "baseline": "transactions that ended in the WARMUP/2 seconds before begin was issued",
            "overlapping": "transactions running at any moment of the pause window",
            "queued": "transactions outstanding at the moment their instance applied the commit (its log's "
                      "coord_applied line; until then it was paused and drained, so they were waiting in its "
                      "queue); with --rate a transaction starts at its scheduled time",
            "added": "latency of a queued transaction minus the baseline p50",
            "catch_up": "commit's replication_lag_ms: from the watermark's write on the source (by begin once "
                        "every instance drained, or by commit; replication_check.watermark_written_at) until "
                        "commit saw it on the target, which lies inside every queued transaction's wait (0 when "
                        "it was already there at commit's first look); or, when commit cannot "
                        "check (reverse, or replication reversed for a later round), the script's wait for "
                        "replication (and the reversal) between begin and commit",
            "added_minus_catch_up": "added minus the part of the transaction's lifetime that overlaps the "
                                    "catch-up wait",
            "percentiles": "nearest rank",
        },
        "summary": summary,
        "rounds": rounds,
    }
    with open(json_out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print("results written to", json_out)


if __name__ == "__main__":
    main()

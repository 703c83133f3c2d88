#!/usr/bin/env python3
"""bench/shadow_report.py - table and JSON for bench/run.sh --shadow.

Usage (from run.sh): shadow_report.py RAW_TSV EXTRA_TSV JSON_OUT, with the run's
settings in B_* environment variables. RAW_TSV has one row per run (the columns
run_pgbench writes); EXTRA_TSV adds, per run, why it could not take place and
what was counted (molt-lms shadow metrics, the baseline's mismatches).
"""
import csv
import json
import os
import statistics
import sys

# the targets: (numerator leg, denominator leg, minimum ratio)
TARGETS = {
    "sync_vs_baseline": ("lms-sync", "baseline", 0.9),
    "async_vs_none": ("lms-async", "lms-none", 0.95),
    # the same minimum against the baseline that sends in molt-lms's order
    "sync_vs_baseline_seq": ("lms-sync", "baseline-seq", 0.9),
}
# ratios reported without a target
RATIOS = {
    "sync_vs_baseline": ("lms-sync", "baseline"),
    "strict_sync_vs_baseline": ("lms-strict-sync", "baseline"),
    "async_vs_none": ("lms-async", "lms-none"),
    "none_vs_direct": ("lms-none", "direct"),
    "sync_vs_baseline_seq": ("lms-sync", "baseline-seq"),
    "strict_sync_vs_baseline_seq": ("lms-strict-sync", "baseline-seq"),
    "baseline_vs_direct": ("baseline", "direct"),
    "baseline_seq_vs_direct": ("baseline-seq", "direct"),
    "client_cal_vs_direct": ("client-cal", "direct"),
}


def num(x):
    for conv in (int, float):
        try:
            return conv(x)
        except (TypeError, ValueError):
            pass
    return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ms(us):
    return None if us is None else round(us / 1000.0, 3)


def fmt(x, spec):
    return "NA" if x is None else format(x, spec)


def parse_extra(s):
    """'name{labels}=value;...' -> {name{labels}: number}"""
    out = {}
    for item in filter(None, (s or "").split(";")):
        k, _, v = item.rpartition("=")
        if k:
            out[k] = num(v) if num(v) is not None else v
    return out


def ratio(a, b):
    return round(a / b, 3) if a and b else None


CPU_PARTS = (("proxy", "cpu_us_per_tx"), ("client", "client_cpu_us_per_tx"),
             ("source_db", "src_cpu_us_per_tx"), ("target_db", "tgt_cpu_us_per_tx"))

# what --target-cpu did (run.sh --help)
PLACEMENT = {
    "shared": "every process on every CPU: the target PostgreSQL competes for the source side's CPUs",
    "separate": "target cluster pinned to the last CPU, everything else to the others (a target on "
                "its own hardware; the source side has one CPU less)",
    "nice": "target cluster at nice 19 (gets what the source side leaves)",
}


def cpu_of(r):
    """CPU per transaction of one run by part, and their total (None when a part is unknown;
    a leg without a proxy has proxy 0)."""
    out = {}
    for part, col in CPU_PARTS:
        v = num(r.get(col))
        if v is None and part == "proxy" and not r["target"].startswith("lms-"):
            v = 0.0
        out[part] = v
    out["total"] = None if any(v is None for v in out.values()) else round(sum(out.values()), 2)
    # what a target on its own hardware does not take from the source side
    out["source_side"] = None if out["total"] is None else round(out["total"] - out["target_db"], 2)
    return out


def main():
    env = os.environ
    raw_path, extra_path, json_path = sys.argv[1:4]
    legs = env["B_LEGS"].split()
    with open(raw_path) as f:
        raw = [r for r in csv.DictReader(f, delimiter="\t") if r["workload"].startswith("shadow_")]
    with open(extra_path) as f:
        extra = {(r["workload"], r["target"], r["round"]): r for r in csv.DictReader(f, delimiter="\t")}

    opts = "-c %s -j %s -T %s -n" % (env["B_CLIENTS"], env["B_THREADS"], env["B_DURATION"])
    workloads = {
        "shadow_select": "pgbench -S %s (select-only, simple protocol)" % opts,
        "shadow_tpcb": "pgbench %s (built-in TPC-B-like script, simple protocol)" % opts,
    }
    result = {
        "kind": "shadow",
        "timestamp": env["B_TS"],
        "config": {
            "rounds": int(env["B_ROUNDS"]), "duration_s": int(env["B_DURATION"]),
            "clients": int(env["B_CLIENTS"]), "threads": int(env["B_THREADS"]),
            "scale": int(env["B_SCALE"]), "legs": legs, "sslmode": "disable",
            "baseline_target_lock_timeout_ms": int(env["B_LOCK_TIMEOUT"]),
            "lms_extra_args": env.get("B_LMS_ARGS", ""),
            "target_cpu": env.get("B_TARGET_CPU", "shared"),
            "target_cpu_meaning": PLACEMENT.get(env.get("B_TARGET_CPU", "shared")),
            "huge_pages": env.get("B_HUGE_PAGES", ""),
            "huge_pages_clusters": env.get("B_HUGE_CLUSTERS", ""),
        },
        "host": {"nproc": int(env["B_NPROC"]), "kernel": env["B_KERNEL"],
                 "postgresql": env["B_PG_VERSION"], "molt_lms": env["B_LMS_VERSION"] or None},
        "ports": {"source": int(env["B_SRC_PORT"]), "target": int(env["B_TGT_PORT"]),
                  "lms": int(env["B_LMS_PORT"])},
        "legs": {
            "direct": "pgbench straight to the source",
            "lms-MODE": "pgbench through molt-lms --shadow-mode MODE (INIT_TARGET = target cluster)",
            "baseline": "bench/dual_client: each statement sent to source and target at once, "
                        "waits for both, compares (one thread and two connections per client)",
            "baseline-seq": "bench/dual_client --sequential: each statement to the target once the "
                            "source answered it",
            "client-cal": "bench/dual_client against the source only (client cost vs pgbench)",
        },
        "units": {"tps": "transactions/s", "latency": "ms (transaction, p50/p99 over all transactions)",
                  "cpu_us_per_tx": "user+system CPU microseconds per transaction: proxy (molt-lms, "
                                   "/proc/PID/stat delta), client (pgbench or dual_client, rusage), "
                                   "source_db and target_db (postmaster with reaped and live backends); "
                                   "total = their sum"},
        "targets": {k: {"ratio": "%s / %s" % (a, b), "minimum": m} for k, (a, b, m) in TARGETS.items()},
        "workloads": {},
    }

    for w, desc in workloads.items():
        rows = [r for r in raw if r["workload"] == w]
        if not rows:
            continue
        summary = {}
        for t in legs:
            mine = [r for r in rows if r["target"] == t]
            ok = [r for r in mine if r["status"] == "ok"]
            notes = sorted({extra.get((w, t, r["round"]), {}).get("note", "") for r in mine} - {""})
            counted = {}
            for r in ok:
                for k, v in parse_extra(extra.get((w, t, r["round"]), {}).get("extra")).items():
                    if isinstance(v, (int, float)):
                        counted[k] = counted.get(k, 0) + v
            summary[t] = {
                "rounds_ok": len(ok),
                "statuses": sorted({r["status"] for r in mine}),
                "tps_median": med([num(r["tps"]) for r in ok]),
                "lat_p50_ms": ms(med([num(r["lat_p50_us"]) for r in ok])),
                "lat_p99_ms": ms(med([num(r["lat_p99_us"]) for r in ok])),
                "proxy_cpu_us_per_tx": med([num(r.get("cpu_us_per_tx")) for r in ok]),
                "cpu_us_per_tx": {part: med([cpu_of(r)[part] for r in ok])
                                  for part in [p for p, _ in CPU_PARTS] + ["total", "source_side"]},
                "failed_txns": sum(num(r["failed"]) or 0 for r in ok),
                "counted_over_rounds": counted,
                "notes": notes,
            }

        def tps_of(t, rnd=None):
            if rnd is None:
                return summary.get(t, {}).get("tps_median")
            for r in rows:
                if r["target"] == t and r["round"] == rnd and r["status"] == "ok":
                    return num(r["tps"])
            return None

        rounds = sorted({r["round"] for r in rows}, key=int)
        ratios = {}
        for name, (a, b) in RATIOS.items():
            per_round = [ratio(tps_of(a, rnd), tps_of(b, rnd)) for rnd in rounds]
            ratios[name] = {"ratio": "%s / %s" % (a, b), "of_medians": ratio(tps_of(a), tps_of(b)),
                            "per_round": per_round, "median_per_round": med(per_round)}
        # CPU: the inverse ratio of total CPU per transaction, i.e. the tps
        # ratio a CPU-bound machine would show if nothing else differed
        for name, (a, b) in RATIOS.items():
            ca = summary.get(a, {}).get("cpu_us_per_tx", {}).get("total")
            cb = summary.get(b, {}).get("cpu_us_per_tx", {}).get("total")
            ratios[name]["cpu_total_inverse"] = ratio(cb, ca)
            sa = summary.get(a, {}).get("cpu_us_per_tx", {}).get("source_side")
            sb = summary.get(b, {}).get("cpu_us_per_tx", {}).get("source_side")
            ratios[name]["cpu_source_side_inverse"] = ratio(sb, sa)
        checks = {}
        for name, (a, b, minimum) in TARGETS.items():
            value = ratios[name]["of_medians"]
            if value is None:
                missing = [x for x in (a, b) if tps_of(x) is None]
                verdict = "n/a (no figures for %s)" % ", ".join(missing)
            else:
                verdict = "met" if value >= minimum else "missed"
            checks[name] = {"ratio": ratios[name]["ratio"], "value": value, "minimum": minimum,
                            "verdict": verdict}
        result["workloads"][w] = {
            "command": desc,
            "summary": summary,
            "ratios": ratios,
            "targets": checks,
            "rounds": [{
                "round": int(r["round"]), "target": r["target"], "status": r["status"],
                "tps": num(r["tps"]), "txns": num(r["txns"]), "failed": num(r["failed"]),
                "lat_p50_ms": ms(num(r["lat_p50_us"])), "lat_p99_ms": ms(num(r["lat_p99_us"])),
                "proxy_cpu_us_per_tx": num(r.get("cpu_us_per_tx")),
                "cpu_us_per_tx": cpu_of(r),
                "note": extra.get((r["workload"], r["target"], r["round"]), {}).get("note") or None,
                "counted": parse_extra(extra.get((r["workload"], r["target"], r["round"]), {}).get("extra")),
            } for r in rows],
        }

        print()
        print("== %s: %s" % (w, desc))
        print("   target cluster CPU: %s (%s)" % (result["config"]["target_cpu"],
                                                 result["config"]["target_cpu_meaning"]))
        print("%-16s %6s %10s %8s %8s %7s | %7s %7s %7s %7s %7s %8s  %s" % (
            "leg", "ok", "tps(med)", "p50 ms", "p99 ms", "/direct",
            "proxy", "client", "src db", "tgt db", "total", "src side", "status"))
        for t in legs:
            s = summary[t]
            c = s["cpu_us_per_tx"]
            print("%-16s %6s %10s %8s %8s %7s | %7s %7s %7s %7s %7s %8s  %s" % (
                t, "%d/%d" % (s["rounds_ok"], len(rounds)), fmt(s["tps_median"], ".1f"),
                fmt(s["lat_p50_ms"], ".3f"), fmt(s["lat_p99_ms"], ".3f"),
                fmt(ratio(s["tps_median"], tps_of("direct")), ".3f"),
                fmt(c["proxy"], ".1f"), fmt(c["client"], ".1f"), fmt(c["source_db"], ".1f"),
                fmt(c["target_db"], ".1f"), fmt(c["total"], ".1f"), fmt(c["source_side"], ".1f"),
                ",".join(s["statuses"])))
        print("   right of |: CPU microseconds per transaction (median over rounds): molt-lms, the client")
        print("   (pgbench or dual_client), the source and target clusters, their sum, and the sum without")
        print("   the target cluster (what a target on its own hardware leaves to the source side)")
        for t in legs:
            for note in summary[t]["notes"]:
                print("   %s: %s" % (t, note))
            # the table shows what is not zero; the JSON has every series
            counted = {k: v for k, v in summary[t]["counted_over_rounds"].items() if v}
            if summary[t]["counted_over_rounds"]:
                print("   %s counted: %s" % (t, ", ".join(
                    "%s=%s" % kv for kv in sorted(counted.items())) or "nothing but zeros"))
        print("   ratios (of median tps; per round in the JSON; 'cpu' = inverse ratio of total CPU/tx,")
        print("   'src side' = the same without the target cluster's CPU):")
        for name, rr in ratios.items():
            line = "     %-28s %-32s %s  cpu %s  src side %s" % (
                name, rr["ratio"], fmt(rr["of_medians"], ".3f"), fmt(rr["cpu_total_inverse"], ".3f"),
                fmt(rr["cpu_source_side_inverse"], ".3f"))
            if name in checks:
                line += "   target >= %.2f: %s" % (checks[name]["minimum"], checks[name]["verdict"])
            print(line)

    with open(json_path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print()
    print("results written to", json_path)


if __name__ == "__main__":
    main()

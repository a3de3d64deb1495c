import json, math, sys
runs_path, summary_path, data_dir, epochs, threads = sys.argv[1:]
rows = []
for line in open(runs_path):
    model, system, path, wall, l0, l1 = line.rstrip("\n").split("\t")
    r = dict(model=model, system=system, wall_s=float(wall), load_before=float(l0),
             load_after=float(l1), note="")
    if system.startswith("pytorch"):
        j = json.load(open(path))
        r.update(samples_per_sec=j["train_samples_per_sec"], test_auc=j["test_auc"],
                 test_logloss=j["test_logloss"], samples=j["samples"], threads=j["threads"])
        if system != "pytorch":
            r["note"] = f"throughput only ({j['steps']} steps)"
        elif j.get("truncated"):
            r["note"] = (f"TRUNCATED at {j['samples']} of {j['train_samples_in_file']} "
                         f"samples (time limit): AUC not comparable")
        r["truncated"] = bool(j.get("truncated"))
    else:
        last = [json.loads(l) for l in open(path) if l.strip()][-1]
        r.update(samples_per_sec=last["train_samples_per_sec"], test_auc=last["test_auc"],
                 test_logloss=last["test_logloss"], samples=last["samples"],
                 threads=last["threads"])
    rows.append(r)


def fmt(x, spec):
    return format(x, spec) if isinstance(x, float) and math.isfinite(x) else "-"


print(f"\ndata {data_dir}, {epochs} epoch(s), {threads} threads, batch 128 per thread")
print(f"{'model':6} {'system':11} {'samples/s':>10} {'test AUC':>9} {'logloss':>8} "
      f"{'wall s':>7} {'load':>12}  note")
for r in rows:
    print(f"{r['model']:6} {r['system']:11} {r['samples_per_sec']:10.0f} "
          f"{fmt(r['test_auc'], '9.4f'):>9} {fmt(r['test_logloss'], '8.4f'):>8} "
          f"{r['wall_s']:7.1f} {r['load_before']:5.1f}->{r['load_after']:<5.1f}  {r['note']}")
result = {"data_dir": data_dir, "epochs": int(epochs), "threads": int(threads), "rows": rows,
          "comparisons": []}
print(f"\n{'model':6} {'DIPS run':9} {'vs PyTorch ' + threads + 't':>14} {'vs fastest PyTorch':>19} "
      f"{'dAUC':>8}  targets (>=5x samples/s, |dAUC| <= 0.005)")
for r in rows:
    if r["system"].startswith("pytorch"):
        continue
    ref = next((p for p in rows if p["model"] == r["model"] and p["system"] == "pytorch"), None)
    if ref is None:
        continue
    fastest = max(p["samples_per_sec"] for p in rows
                  if p["model"] == r["model"] and p["system"].startswith("pytorch"))
    ratio = r["samples_per_sec"] / ref["samples_per_sec"]
    ratio_fast = r["samples_per_sec"] / fastest
    dauc = r["test_auc"] - ref["test_auc"]
    speed_ok = ratio_fast >= 5.0
    auc_ok = None if ref["truncated"] else abs(dauc) <= 0.005
    result["comparisons"].append(dict(model=r["model"], system=r["system"], ratio=ratio,
                                      ratio_vs_fastest_pytorch=ratio_fast, delta_auc=dauc,
                                      speed_target_met=speed_ok, auc_target_met=auc_ok))
    auc_txt = "n/a (PyTorch run truncated)" if auc_ok is None else ("met" if auc_ok else "NOT met")
    print(f"{r['model']:6} {r['system']:9} {ratio:13.2f}x {ratio_fast:18.2f}x {dauc:+8.4f}  "
          f"speed: {'met' if speed_ok else 'NOT met'} (vs fastest PyTorch), AUC: {auc_txt}")
json.dump(result, open(summary_path, "w"), indent=1)
print(f"\n(samples/s: training steps only, excluding reading and batch assembly; load: "
      f"1-minute load average before->after each run; summary: {summary_path})")

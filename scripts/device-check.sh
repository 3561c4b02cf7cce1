#!/usr/bin/env bash
# The GPU check of issue 17, for a session lent a device machine (the `device` entry of the tool
# library: one NVIDIA H200, nothing to download there, at most 64 MiB carried per call).
#
#   scripts/device-check.sh prepare   # here: build both GPU binaries, compress them into .device/,
#                                     # fetch the Vulkan loader's packages into .gl/
#   device run, carry [".device", ".gl"], timeout_s 600:
#     for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash scripts/device-check.sh run
#
# `run` (on the device machine) lists the adapters, trains the quickstart on the GPU through
# SPIR-V (`--features gpu`, `--backend vulkan`) and through WGSL (`--features wgpu`), runs
# `mtl bench` on both for the bench workloads at batch 256 and 4096 and for MGDA/PCGrad at
# T = 8, runs the PyTorch CUDA eager reference (benches/torch_cuda.py) on the same workloads,
# and writes everything with the ratios to $OUT/device-check.json (and the log beside it), for
# BENCHMARKS.md. Each part has its own time limit, so one that hangs loses only itself; the
# whole run is sized to end within ten minutes.
set -uo pipefail
cd "$(dirname "$0")/.."

prepare() {
  set -e
  mkdir -p .device .gl
  grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >>.git/info/exclude
  grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo '/.gl/' >>.git/info/exclude
  echo "== SPIR-V binary (--features gpu)"
  cargo build --release --features gpu
  strip -o .device/mtl-spirv target/release/mtl
  echo "== WGSL binary (--features wgpu, its own target folder)"
  CARGO_TARGET_DIR=target/wgsl cargo build --release --features wgpu
  strip -o .device/mtl-wgsl target/wgsl/release/mtl
  xz -T0 -9 -f .device/mtl-spirv .device/mtl-wgsl
  echo "== the Vulkan loader (the device README's recipe)"
  mkdir -p /tmp/amd64/partial
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  du -ch .device/* .gl/* | tail -1
  echo "carry: .device .gl (the device call carries at most 64 MiB)"
}

run() {
  local out="${OUT:-/tmp/device-check}" bin=/tmp/mtl-bin
  mkdir -p "$out" "$bin"
  exec > >(tee "$out/device-check.log") 2>&1
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
  if ! ldconfig -p | grep -q libvulkan; then
    echo "no Vulkan loader: unpack .gl first (see the top of this script)"
  fi
  for c in spirv wgsl; do
    if [ -f ".device/mtl-$c.xz" ]; then xz -dc ".device/mtl-$c.xz" >"$bin/mtl-$c" && chmod +x "$bin/mtl-$c"; fi
  done
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  # The driver's ICD where the loader does not find it on its own (the device README).
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES="$icd"; fi
  local work=/tmp/device-work
  rm -rf "$work" && mkdir -p "$work"
  for c in spirv wgsl; do
    local mtl="$bin/mtl-$c" backend=vulkan
    [ "$c" = wgsl ] && backend=wgpu
    [ -x "$mtl" ] || { echo "== $c: no binary (.device/mtl-$c.xz)"; continue; }
    echo "== $c: mtl devices"
    timeout 60 "$mtl" devices | tee "$out/devices-$c.txt"
    echo "== $c: quickstart (40 epochs) on --backend $backend"
    local t0=$SECONDS
    timeout 150 "$mtl" train configs/quickstart.toml --backend "$backend" --quiet --out "$work/quickstart-$c"
    echo "quickstart $c: exit $?, $((SECONDS - t0)) s"
    cp "$work/quickstart-$c/summary.json" "$out/quickstart-$c.json" 2>/dev/null
    for b in 256 4096; do
      echo "== $c: mtl bench, batch $b"
      timeout 120 "$mtl" bench --backends "$backend" --batch-size "$b" --steps 200 --warmup 20 --repeats 3 \
        --no-reference --json "$work/bench-$c-$b.json"
    done
    echo "== $c: MGDA and PCGrad at T = 8, batch 256"
    timeout 90 "$mtl" bench --backends "$backend" --methods mgda,pcgrad --tasks 8 --steps 60 --warmup 10 --repeats 3 \
      --no-reference --json "$work/methods-$c.json"
    echo "== $c: --profile (MMoE rows, batch 4096)"
    timeout 60 "$mtl" bench --backends "$backend" --batch-size 4096 --steps 50 --warmup 10 --repeats 1 --profile \
      --no-reference --json "$work/profile-$c.json"
  done
  echo "== PyTorch CUDA eager"
  timeout 150 python3 benches/torch_cuda.py --batch 256,4096 --out "$work/torch.json"
  python3 - "$work" "$out/device-check.json" <<'PY'
import glob, json, os, sys
work, dest = sys.argv[1], sys.argv[2]
def load(p):
    try:
        with open(p) as f:
            return json.load(f)
    except Exception as e:
        return {"missing": f"{os.path.basename(p)}: {e}"}
res = {"torch": load(f"{work}/torch.json"), "mtl": {}}
for c in ["spirv", "wgsl"]:
    res["mtl"][c] = {
        "bench": {b: load(f"{work}/bench-{c}-{b}.json") for b in ["256", "4096"]},
        "methods": load(f"{work}/methods-{c}.json"),
        "profile": load(f"{work}/profile-{c}.json"),
    }
ratios = []
for row in res["torch"].get("A", []):
    for c in ["spirv", "wgsl"]:
        bench = res["mtl"][c]["bench"].get(str(row["batch"]), {})
        for r in bench.get("rows", []):
            if r["workload"] == row["workload"]:
                ratios.append({"compiler": c, "workload": row["workload"], "batch": row["batch"],
                               "mtl_samples_per_s": r["samples_per_s"], "torch_samples_per_s": row["samples_per_s"],
                               "ratio": r["samples_per_s"] / row["samples_per_s"]})
for row in res["torch"].get("B", []):
    for c in ["spirv", "wgsl"]:
        for r in res["mtl"][c]["methods"].get("rows", []):
            if r["method"] == row["method"] and r["input"] == "parameters":
                i = r["tasks"].index(row["tasks"])
                ratios.append({"compiler": c, "method": row["method"], "tasks": row["tasks"],
                               "mtl_step_ms": r["step_ms"][i], "torch_step_ms": row["step_ms"],
                               "torch_over_mtl_time": row["step_ms"] / r["step_ms"][i]})
res["ratios"] = ratios
with open(dest, "w") as f:
    json.dump(res, f, indent=1)
for r in ratios:
    print(json.dumps(r))
PY
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 prepare|run (see the top of the script)" >&2; exit 2 ;;
esac

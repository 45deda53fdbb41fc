#!/usr/bin/env bash
# ratio.sh: the issue-2 speed goal, measured so that machine noise cancels.
#
#   bench/ratio/ratio.sh [ROUNDS] [A.test [B.test]]
#
# Runs BenchmarkRawGCM/SealOpen/32 and BenchmarkEngine/EncryptDecrypt/32 in
# the same test binary, back to back, ROUNDS times (default 12), and prints
# each round's Encrypt+Decrypt / raw seal+open ratio and the median. With two
# binaries (built with `go test -c -o A.test .` from two commits) it
# alternates them round by round, so both see the same machine state, and
# prints both medians. Without a binary it builds one from the working tree.
set -euo pipefail
rounds=${1:-12}
shift || true
bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	go test -c -o "$tmp/keyward.test" "$(dirname "$0")/../.."
	bins=("$tmp/keyward.test")
fi
pattern='BenchmarkRawGCM/^SealOpen$/^32$|BenchmarkEngine/^EncryptDecrypt$/^32$'
declare -A ratios
for ((r = 1; r <= rounds; r++)); do
	for bin in "${bins[@]}"; do
		out=$("$bin" -test.run '^$' -test.bench "$pattern" -test.benchtime 1s -test.benchmem)
		raw=$(awk '/^BenchmarkRawGCM\/SealOpen\/32/ {print $3}' <<<"$out")
		eng=$(awk '/^BenchmarkEngine\/EncryptDecrypt\/32/ {print $3}' <<<"$out")
		ratio=$(awk -v a="$eng" -v b="$raw" 'BEGIN {printf "%.3f", a / b}')
		ratios[$bin]+="$ratio "
		printf '%s round %d: raw %s ns, engine %s ns, ratio %s\n' "$(basename "$bin")" "$r" "$raw" "$eng" "$ratio"
	done
done
for bin in "${bins[@]}"; do
	# shellcheck disable=SC2086
	median=$(printf '%s\n' ${ratios[$bin]} | sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}')
	printf '%s median ratio over %d rounds: %s\n' "$(basename "$bin")" "$rounds" "$median"
done

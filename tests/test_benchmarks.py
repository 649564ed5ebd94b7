"""Pure logic of the benchmarks package (nothing timed here)."""
from __future__ import annotations

from benchmarks.speed import int8_instructions


def test_int8_instructions_names_the_best_the_cpu_has():
    assert int8_instructions({"avx2", "fma", "avx512bw", "avx512_vnni"}).startswith("AVX-512 VNNI")
    assert int8_instructions({"avx2", "avx_vnni"}).startswith("AVX-VNNI")
    assert int8_instructions({"avx2", "avx512f", "avx512bw"}).startswith("AVX-512BW without VNNI")
    assert int8_instructions({"sse4_2", "avx", "avx2", "fma"}).startswith("AVX2 without VNNI")
    assert int8_instructions(set()).startswith("no AVX2")

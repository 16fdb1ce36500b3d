"""The native step's two kernels alone, to see how near their floor they are (issue 25, item 1).

Builds a standalone C harness from `tatumflow/generate/native/decode_step.c` (its helpers, `matvec` and `attend`,
compiled as the library is: -O3 -march=native) and times, on one thread, min of many repeats:
- the four layers' matrix-vector products of Model v2 (d_model 256, d_ff 1024), fp16 and fp32 weights, with the
  caches warm ("hot") and after streaming 16 MB through them ("evicted");
- the attention of 16 layer-heads (head size 64) over 300 and 700 positions, after streaming 12 MB.

    .venv/bin/python benchmarks/decode/2026-12-07b/kernels.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).parents[3] / "tatumflow" / "generate" / "native" / "decode_step.c"

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static volatile long sink;
static void evict(const char *w, size_t n) { for (size_t i = 0; i < n; i += 64) sink += w[i]; }

static double matvecs(int half, int cold, const char *big, size_t nbig) {
    const int D = 256, F = 1024, L = 4;
    size_t es = half ? 2 : 4;
    void *m[4][4];
    int rows[4] = {3 * D, D, F, D}, cols[4] = {D, D, D, F};
    for (int l = 0; l < L; l++)
        for (int j = 0; j < 4; j++) {
            m[l][j] = aligned_alloc(64, (size_t)rows[j] * cols[j] * es);
            memset(m[l][j], 0, (size_t)rows[j] * cols[j] * es);
        }
    static float x[1024], y[3072];
    for (int i = 0; i < 1024; i++) x[i] = i * 1e-3f;
    double best = 1e9;
    for (int rep = 0; rep < 300; rep++) {
        if (cold) evict(big, nbig);
        double t0 = now();
        for (int l = 0; l < L; l++)
            for (int j = 0; j < 4; j++) matvec(m[l][j], half, rows[j], cols[j], x, y, 1, NULL, j == 1 || j == 3);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best * 1e6;
}

static double attention(int n, const char *big, size_t nbig) {
    const int heads = 16, hd = 64;
    const size_t T = 1024;
    float *k = aligned_alloc(64, heads * T * hd * 4), *v = aligned_alloc(64, heads * T * hd * 4);
    float q[64], y[64], *scores = malloc(T * 4);
    for (size_t i = 0; i < heads * T * hd; i++) {
        k[i] = (float)((i * 37) % 101) * 0.01f;
        v[i] = (float)((i * 11) % 97) * 0.01f;
    }
    for (int i = 0; i < hd; i++) q[i] = 0.1f * (i % 7);
    double best = 1e9;
    for (int rep = 0; rep < 1000; rep++) {
        evict(big, nbig);
        double t0 = now();
        for (int h = 0; h < heads; h++) attend(q, k + h * T * hd, v + h * T * hd, n - 1, hd, scores, y);
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best * 1e6;
}

int main(void) {
    size_t nbig = 16u << 20;
    char *big = malloc(nbig);
    for (size_t i = 0; i < nbig; i++) big[i] = (char)i;
    printf("matvecs fp16: %.0f us hot, %.0f us evicted\n", matvecs(1, 0, big, nbig), matvecs(1, 1, big, nbig));
    printf("matvecs fp32: %.0f us hot, %.0f us evicted\n", matvecs(0, 0, big, nbig), matvecs(0, 1, big, nbig));
    printf("attention, 16 heads: %.0f us at 300 positions, %.0f us at 700\n", attention(300, big, 12u << 20),
           attention(700, big, 12u << 20));
    return 0;
}
"""


def main() -> None:
    src = SOURCE.read_text()
    kernels = src[: src.index("/* The step of fields[4]")]  # the helpers, matvec and attend: what tf_step calls
    with tempfile.TemporaryDirectory() as tmp:
        c, exe = Path(tmp) / "kernels.c", Path(tmp) / "kernels"
        c.write_text(kernels + HARNESS)
        subprocess.run(["cc", "-O3", "-march=native", "-o", str(exe), str(c), "-lm"], check=True)
        sys.stdout.write(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout)


if __name__ == "__main__":
    main()

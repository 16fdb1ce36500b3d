/* One decode step of TatumFlow's note transformer, and its output heads, on the CPU in plain C.
 *
 * Batch-1 decode is a few million multiply-adds a note over ~15 MB of weights: on a CPU its floor is the time to
 * stream those weights from cache once. Through torch it costs several times that (about a hundred small ops a
 * note, each with its dispatch, allocation and a BLAS call tuned for large matrices). Here the same arithmetic
 * runs as one call: the matrices are read eight rows at a time, eight independent chains of SIMD fused
 * multiply-adds (-O3 -march=native), every buffer is preallocated, nothing is allocated.
 *
 * It reads the weights that `InferenceModel` prepared (norm gains and sqrt(D) folded into the matrices), and
 * reads and writes the same `KVCache` tensors as the torch paths, so the paths mix freely. Activations and sums
 * are float32, as on the torch path; only the order of the sums differs (results within float rounding of it).
 * The matrices are float32, or float16 (`half`): half the bytes to stream, each weight rounded to fp16.
 *
 * Layouts (row-major, contiguous):
 *   matrices [out][in]; k, v [L][B][H][T][hd]; hidden [B][T][D]; rope tables [T][hd/2].
 */
#include <math.h>
#include <stddef.h>

typedef struct {
    int n_layers, d_model, n_heads, head_dim, d_ff, context, lanes;
    float eps_sum;                /* D * eps: rsqrt(sum(x^2) + D eps) is the unit RMS with sqrt(D) folded out */
    int half;                     /* the matrices below are fp16 (converted to fp32 as they are read), else fp32 */
    const void *const *qkv;       /* per layer [3D][D] */
    const void *const *proj;      /* per layer [D][D] */
    const void *const *fc;        /* per layer [F][D] */
    const void *const *out;       /* per layer [D][F] */
    const float *final_gain;      /* [D] */
    const float *rope_cos;        /* [T][hd/2] */
    const float *rope_sin;        /* [T][hd/2] */
    const float *field_table;     /* [sum of vocab sizes][D]: the four field embeddings */
    const long *field_offsets;    /* [4] */
    float *k, *v;                 /* the cache's keys and values */
    float *hidden;                /* the cache's final hidden states */
    float *work;                  /* scratch, tf_work_floats() floats */
} tf_model;

long tf_work_floats(int lanes, int d_model, int d_ff, int context) {
    return (long)lanes * (6L * d_model + d_ff) + context;
}

/* Eight floats as one value (GCC/Clang vector extensions: SIMD on x86 and ARM alike, no intrinsics) */
typedef float v8f __attribute__((vector_size(32)));

static inline v8f load8(const float *p) {
    v8f v;
    __builtin_memcpy(&v, p, sizeof v);  /* unaligned load */
    return v;
}

typedef _Float16 v8h __attribute__((vector_size(16)));

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
static inline v8f load8h(const _Float16 *p) {  /* eight fp16 weights as fp32: one vcvtph2ps */
    __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    v8f out;
    __builtin_memcpy(&out, &v, sizeof out);
    return out;
}
#else
static inline v8f load8h(const _Float16 *p) {
    v8h h;
    __builtin_memcpy(&h, p, sizeof h);
    return __builtin_convertvector(h, v8f);
}
#endif

static inline float total8(v8f v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

/* out[r] = total8(a[r]) for eight (or four) vectors at once, each sum the same additions in the same order: the
 * halves added (v_j + v_j+4), then pairs (hadd), then the two pair sums (hadd). 15 instructions for eight sums
 * where total8 takes ~7 each. */
#if defined(__AVX2__)
#include <immintrin.h>
static inline __m256 halves(v8f a, v8f b) {  /* [a.lo + a.hi | b.lo + b.hi] */
    __m256 x, y;
    __builtin_memcpy(&x, &a, sizeof x);
    __builtin_memcpy(&y, &b, sizeof y);
    return _mm256_add_ps(_mm256_permute2f128_ps(x, y, 0x20), _mm256_permute2f128_ps(x, y, 0x31));
}

static inline void total8x8(const v8f *a, float *out) {
    __m256 h0 = _mm256_hadd_ps(halves(a[0], a[1]), halves(a[2], a[3]));  /* rows 0, 2 | 1, 3: two partial sums */
    __m256 h1 = _mm256_hadd_ps(halves(a[4], a[5]), halves(a[6], a[7]));
    __m256 f = _mm256_hadd_ps(h0, h1);  /* rows 0 2 4 6 | 1 3 5 7 */
    _mm256_storeu_ps(out, _mm256_permutevar8x32_ps(f, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

static inline void total8x4(v8f a0, v8f a1, v8f a2, v8f a3, float *out) {
    __m256 h = _mm256_hadd_ps(halves(a0, a1), halves(a2, a3));  /* rows 0, 2 | 1, 3 */
    __m256 f = _mm256_hadd_ps(h, h);                            /* rows 0 2 0 2 | 1 3 1 3 */
    __m128 lo = _mm256_castps256_ps128(f), hi = _mm256_extractf128_ps(f, 1);
    _mm_storeu_ps(out, _mm_unpacklo_ps(lo, hi));                /* rows 0 1 2 3 */
}
#else
static inline void total8x8(const v8f *a, float *out) {
    for (int r = 0; r < 8; r++) out[r] = total8(a[r]);
}

static inline void total8x4(v8f a0, v8f a1, v8f a2, v8f a3, float *out) {
    out[0] = total8(a0), out[1] = total8(a1), out[2] = total8(a2), out[3] = total8(a3);
}
#endif

/* sum a[i] b[i] */
static float dot(const float *restrict a, const float *restrict b, int n) {
    v8f s0 = {0}, s1 = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 += load8(a + i) * load8(b + i);
        s1 += load8(a + i + 8) * load8(b + i + 8);
    }
    for (; i + 8 <= n; i += 8) s0 += load8(a + i) * load8(b + i);
    float s = total8(s0 + s1);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* out[j] = W[j] . x for eight rows at once: each x load serves eight rows, and the eight chains of fused
 * multiply-adds are independent, enough to keep both FMA units busy (four chains left one idle: an FMA waits ~4
 * cycles for its own accumulator). Each row's sum is the same chain, in the same order, as one row alone. n a
 * multiple of 8. LOAD reads eight weights as fp32 (load8 or load8h). */
#define DOT8(NAME, T, LOAD)                                                                  \
    static void NAME(const T *restrict w, int n, const float *restrict x, float *out) {    \
        v8f a[8] = {{0}};                                                                   \
        for (int i = 0; i < n; i += 8) {                                                    \
            v8f xv = load8(x + i);                                                          \
            for (int r = 0; r < 8; r++) a[r] += LOAD(w + (size_t)r * n + i) * xv;           \
        }                                                                                   \
        total8x8(a, out);                                                                   \
    }
DOT8(dot8_f32, float, load8)
DOT8(dot8_f16, _Float16, load8h)

/* one row of either kind against x, n a multiple of 8 or not */
static float dot_row(const void *w, int half, const float *x, int n) {
    if (!half) return dot((const float *)w, x, n);
    const _Float16 *h = (const _Float16 *)w;
    v8f s = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) s += load8h(h + i) * load8(x + i);
    float r = total8(s);
    for (; i < n; i++) r += (float)h[i] * x[i];
    return r;
}

/* y[b][o] = W[o] . x[b] (+ bias[o]) (+ y[b][o] when accumulate: a residual add in place); W fp32 or fp16 */
static void matvec(const void *W, int half, int n_out, int n_in, const float *x, float *y, int lanes,
                   const float *bias, int accumulate) {
    size_t row_bytes = (size_t)n_in * (half ? sizeof(_Float16) : sizeof(float));
    const char *base = (const char *)W;
    int o = 0;
    if (n_in % 8 == 0)
        for (; o + 8 <= n_out; o += 8)
            for (int b = 0; b < lanes; b++) {
                float s[8];
                const void *rows = base + (size_t)o * row_bytes;
                if (half)
                    dot8_f16((const _Float16 *)rows, n_in, x + (size_t)b * n_in, s);
                else
                    dot8_f32((const float *)rows, n_in, x + (size_t)b * n_in, s);
                float *dst = y + (size_t)b * n_out + o;
                for (int j = 0; j < 8; j++) {
                    float r = s[j] + (bias ? bias[o + j] : 0.0f);
                    dst[j] = accumulate ? dst[j] + r : r;
                }
            }
    for (; o < n_out; o++)
        for (int b = 0; b < lanes; b++) {
            float s = dot_row(base + (size_t)o * row_bytes, half, x + (size_t)b * n_in, n_in);
            if (bias) s += bias[o];
            float *dst = y + (size_t)b * n_out + o;
            *dst = accumulate ? *dst + s : s;
        }
}

/* n = x / sqrt(sum(x^2) + eps_sum) per lane (the unit RMS; sqrt(D) lives in the next matrix) */
static void unit_rms(const float *x, float *n, int lanes, int d, float eps_sum) {
    for (int b = 0; b < lanes; b++) {
        const float *xb = x + (size_t)b * d;
        float r = 1.0f / sqrtf(dot(xb, xb, d) + eps_sum);
        for (int i = 0; i < d; i++) n[(size_t)b * d + i] = xb[i] * r;
    }
}

typedef int v8i __attribute__((vector_size(32)));

static inline v8i bits8(v8f x) {
    v8i b;
    __builtin_memcpy(&b, &x, sizeof b);
    return b;
}

static inline v8f from_bits8(v8i b) {
    v8f x;
    __builtin_memcpy(&x, &b, sizeof x);
    return x;
}

static inline v8f select8(v8i mask, v8f a, v8f b) {  /* a where mask (all ones), else b */
    return from_bits8((bits8(a) & mask) | (bits8(b) & ~mask));
}

/* exp of eight floats (Cephes' expf: a degree-6 polynomial on [-ln2/2, ln2/2] and a power of two; within 2 ulp) */
static inline v8f exp8(v8f x) {
    const v8f hi = (v8f){0} + 88.3762626647949f, lo = (v8f){0} - 87.3365447504f;
    x = select8(x < hi, x, hi);
    x = select8(x > lo, x, lo);
    const v8f magic = (v8f){0} + 12582912.0f;  /* 1.5 * 2^23: adding it rounds to an integer */
    v8f n = (x * 1.44269504088896341f + magic) - magic;
    v8f r = x - n * 0.693359375f + n * 2.12194440e-4f;
    v8f p = (v8f){0} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return from_bits8(bits8(p) + (__builtin_convertvector(n, v8i) << 23));  /* times 2^n */
}

/* erf of eight floats (Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7, the form of torch's vectorised erf) */
static inline v8f erf8(v8f x) {
    const v8i sign = (v8i){0} + (int)0x80000000;
    v8f ax = from_bits8(bits8(x) & ~sign);
    v8f t = 1.0f / (1.0f + 0.3275911f * ax);
    v8f y = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    y = 1.0f - y * exp8(-ax * ax);
    return from_bits8(bits8(y) | (bits8(x) & sign));  /* erf is odd */
}

static void gelu(float *x, long n) {  /* exact (erf) GELU, in place */
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v = load8(x + i);
        v = (erf8(v * 0.70710678118654752f) + 1.0f) * v * 0.5f;
        __builtin_memcpy(x + i, &v, sizeof v);
    }
    for (; i < n; i++) x[i] = (erff(x[i] * 0.70710678118654752f) + 1.0f) * x[i] * 0.5f;
}

/* rotate pairs (j, j + hd/2) of each head's vector by the angles of position pos */
static void rope(float *x, int n_heads, int hd, const float *cos_row, const float *sin_row) {
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hd;
        for (int j = 0; j < half; j++) {
            float a = v[j], b = v[j + half];
            v[j] = a * cos_row[j] - b * sin_row[j];
            v[j + half] = b * cos_row[j] + a * sin_row[j];
        }
    }
}

/* softmax(q . k_t / sqrt(hd)) over t = 0..pos, times v_t: one head of one lane, hd = 8 nv (nv <= 16; inlined
 * with nv a constant, q and the sum over v live in registers) */
static inline __attribute__((always_inline)) void attend_v(const float *q, const float *keys, const float *values,
                                                            int pos, int nv, float *scores, float *y) {
    const int hd = 8 * nv;
    const float scale = 1.0f / sqrtf((float)hd);
    v8f qv[16], acc[16];
    for (int j = 0; j < nv; j++) qv[j] = load8(q + 8 * j) * scale;
    float top = -INFINITY;
    int t0 = 0;
    for (; t0 + 4 <= pos + 1; t0 += 4) {  /* four keys at once: four independent chains, each as one key alone */
        const float *kt = keys + (size_t)t0 * hd;
        v8f a0 = qv[0] * load8(kt), a1 = qv[0] * load8(kt + hd);
        v8f a2 = qv[0] * load8(kt + 2 * hd), a3 = qv[0] * load8(kt + 3 * hd);
        for (int j = 1; j < nv; j++) {
            a0 += qv[j] * load8(kt + 8 * j);
            a1 += qv[j] * load8(kt + hd + 8 * j);
            a2 += qv[j] * load8(kt + 2 * hd + 8 * j);
            a3 += qv[j] * load8(kt + 3 * hd + 8 * j);
        }
        float s4[4];
        total8x4(a0, a1, a2, a3, s4);
        for (int i = 0; i < 4; i++) {
            scores[t0 + i] = s4[i];
            top = s4[i] > top ? s4[i] : top;
        }
    }
    for (int t = t0; t <= pos; t++) {
        const float *kt = keys + (size_t)t * hd;
        v8f a = qv[0] * load8(kt);
        for (int j = 1; j < nv; j++) a += qv[j] * load8(kt + 8 * j);
        float sc = total8(a);
        scores[t] = sc;
        top = sc > top ? sc : top;
    }
    v8f sum8 = {0};
    int t = 0;
    for (; t + 8 <= pos + 1; t += 8) {
        v8f e = exp8(load8(scores + t) - top);
        __builtin_memcpy(scores + t, &e, sizeof e);
        sum8 += e;
    }
    float total = total8(sum8);
    for (; t <= pos; t++) {
        scores[t] = expf(scores[t] - top);
        total += scores[t];
    }
    for (int j = 0; j < nv; j++) acc[j] = (v8f){0};
    for (int u = 0; u <= pos; u++) {
        const float *vt = values + (size_t)u * hd;
        float p = scores[u];
        for (int j = 0; j < nv; j++) acc[j] += p * load8(vt + 8 * j);
    }
    float inv = 1.0f / total;
    for (int j = 0; j < nv; j++) {
        v8f r = acc[j] * inv;
        __builtin_memcpy(y + 8 * j, &r, sizeof r);
    }
}

static void attend(const float *q, const float *keys, const float *values, int pos, int hd, float *scores,
                   float *y) {
    if (hd == 64) {
        attend_v(q, keys, values, pos, 8, scores, y);
    } else if (hd == 32) {
        attend_v(q, keys, values, pos, 4, scores, y);
    } else if (hd % 8 == 0 && hd <= 128) {
        attend_v(q, keys, values, pos, hd / 8, scores, y);
    } else {  /* any other head size: plain loops */
        float scale = 1.0f / sqrtf((float)hd), top = -INFINITY, total = 0.0f;
        for (int t = 0; t <= pos; t++) {
            scores[t] = dot(q, keys + (size_t)t * hd, hd) * scale;
            if (scores[t] > top) top = scores[t];
        }
        for (int t = 0; t <= pos; t++) {
            scores[t] = expf(scores[t] - top);
            total += scores[t];
        }
        for (int d = 0; d < hd; d++) y[d] = 0.0f;
        for (int t = 0; t <= pos; t++)
            for (int d = 0; d < hd; d++) y[d] += scores[t] / total * values[(size_t)t * hd + d];
    }
}

/* The step of fields[4] at position pos: input = the fields' embeddings + style[b]; keys and values written to
 * the cache at pos; the final hidden state written to hidden[b][pos]. The caller advances the cache's length. */
void tf_step(const tf_model *m, const long *fields, const float *style, int pos) {
    const int B = m->lanes, D = m->d_model, H = m->n_heads, hd = m->head_dim, F = m->d_ff, T = m->context;
    float *x = m->work, *n = x + (size_t)B * D, *qkv = n + (size_t)B * D, *att = qkv + (size_t)B * 3 * D;
    float *ff = att + (size_t)B * D, *scores = ff + (size_t)B * F;
    for (int b = 0; b < B; b++) {
        float *xb = x + (size_t)b * D;
        for (int i = 0; i < D; i++) {
            float s = 0.0f;
            for (int f = 0; f < 4; f++) s += m->field_table[(size_t)(fields[f] + m->field_offsets[f]) * D + i];
            xb[i] = s + style[(size_t)b * D + i];
        }
    }
    const float *cos_row = m->rope_cos + (size_t)pos * (hd / 2), *sin_row = m->rope_sin + (size_t)pos * (hd / 2);
    for (int l = 0; l < m->n_layers; l++) {
        unit_rms(x, n, B, D, m->eps_sum);
        matvec(m->qkv[l], m->half, 3 * D, D, n, qkv, B, NULL, 0);
        for (int b = 0; b < B; b++) {
            float *q = qkv + (size_t)b * 3 * D, *k = q + D, *v = k + D;
            rope(q, H, hd, cos_row, sin_row);
            rope(k, H, hd, cos_row, sin_row);
            for (int h = 0; h < H; h++) {
                size_t base = ((((size_t)l * B + b) * H + h) * T) * hd;
                float *kc = m->k + base, *vc = m->v + base;
                for (int d = 0; d < hd; d++) {
                    kc[(size_t)pos * hd + d] = k[h * hd + d];
                    vc[(size_t)pos * hd + d] = v[h * hd + d];
                }
                attend(q + h * hd, kc, vc, pos, hd, scores, att + (size_t)b * D + h * hd);
            }
        }
        matvec(m->proj[l], m->half, D, D, att, x, B, NULL, 1);
        unit_rms(x, n, B, D, m->eps_sum);
        matvec(m->fc[l], m->half, F, D, n, ff, B, NULL, 0);
        gelu(ff, (long)B * F);
        matvec(m->out[l], m->half, D, F, ff, x, B, NULL, 1);
    }
    unit_rms(x, n, B, D, m->eps_sum);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < D; i++)
            m->hidden[((size_t)b * T + pos) * D + i] = n[(size_t)b * D + i] * m->final_gain[i];
}

/* One output head on h [B][D]: logits [B][V] = out(gelu(fc(unit_rms(h)) + fc_b)) + out_b */
void tf_head(const tf_model *m, const void *fc_w, const float *fc_b, const void *out_w, const float *out_b,
             int vocab, const float *h, float *logits) {
    const int B = m->lanes, D = m->d_model;
    float *n = m->work, *t = n + (size_t)B * D;
    unit_rms(h, n, B, D, m->eps_sum);
    matvec(fc_w, m->half, D, D, n, t, B, fc_b, 0);
    gelu(t, (long)B * D);
    matvec(out_w, m->half, vocab, D, t, logits, B, out_b, 0);
}

/* -- sampling one field: heads.HostSampler's arithmetic (sampling.sample_row), in float64 ------------------------ */

static double log_sum_exp(const double *x, int n, double scale_div, const double *add) {
    double top = -INFINITY, s = 0.0;
    for (int i = 0; i < n; i++) {
        double v = (add ? x[i] + add[i] : x[i]) / scale_div;
        if (v > top) top = v;
    }
    if (!isfinite(top)) return top;
    for (int i = 0; i < n; i++) s += exp((add ? x[i] + add[i] : x[i]) / scale_div - top);
    return top + log(s);
}

/* stable sort of idx[0..n) by p descending (ties keep index order), merge sort with scratch tmp */
static void sort_desc(int *idx, int *tmp, int n, const double *p) {
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = p[idx[j]] > p[idx[i]] ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        for (int i = 0; i < n; i++) idx[i] = tmp[i];
    }
}

/* The index drawn from head logits [lanes][V] (lane 1, if any, unconditional: guided), plus `bias` [V], plus the
 * meter prior re-centred over deltas >= meter_from (`meter` [V] or NULL; heads.meter_term), at `temperature`,
 * within top_k (0: off), top_p and min_p, by the uniform u in [0, 1). work: 2V doubles; iwork: 2V ints. */
int tf_sample(const float *logits, int lanes, int V, double guidance, const double *bias, const double *meter,
              int meter_from, double temperature, int top_k, double top_p, double min_p, double u, double *work,
              int *iwork) {
    double *x = work, *p = work + V;
    for (int i = 0; i < V; i++) {
        double v = logits[i];
        if (lanes == 2) {
            double uncond = logits[V + i];
            v = (v - uncond) * guidance + uncond;
        }
        x[i] = v + bias[i];
    }
    if (meter && meter_from < V) {
        int n = V - meter_from;
        double before = log_sum_exp(x + meter_from, n, temperature, NULL);
        double after = log_sum_exp(x + meter_from, n, temperature, meter + meter_from);
        double shift = isfinite(before) && isfinite(after) ? (before - after) * temperature : 0.0;
        for (int i = meter_from; i < V; i++) x[i] += meter[i] + shift;
    }
    int best = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[best]) best = i;
    if (top_k == 1) return best;
    double top = x[best] / temperature;
    for (int i = 0; i < V; i++) p[i] = exp(x[i] / temperature - top);
    int *order = NULL, n = V;
    if ((top_k > 0 && top_k < V) || top_p < 1.0) {
        order = iwork;
        for (int i = 0; i < V; i++) order[i] = i;
        sort_desc(order, iwork + V, V, p);
        if (top_k > 0 && top_k < V) n = top_k;
        for (int i = 0; i < n; i++) x[i] = p[order[i]];  /* x: the kept probabilities, largest first */
    } else {
        for (int i = 0; i < V; i++) x[i] = p[i];
    }
    if (min_p > 0.0) {
        double floor = min_p * (order ? x[0] : p[best]);
        for (int i = 0; i < n; i++)
            if (x[i] < floor) x[i] = 0.0;
    }
    for (int i = 1; i < n; i++) x[i] += x[i - 1];  /* cumulative */
    int kept = n;
    if (top_p < 1.0) {  /* keep a value while the mass before it is below top_p (always the best one) */
        double target = top_p * x[n - 1];
        int first = 0;
        while (first < n && x[first] < target) first++;
        kept = first + 1 < n ? first + 1 : n;
    }
    double target = u * x[kept - 1];
    int i = 0;
    while (i < kept && x[i] <= target) i++;
    if (i > kept - 1) i = kept - 1;
    return order ? order[i] : i;
}

/* -- one note: the four heads and their sampling in one call ---------------------------------------------------- */

typedef struct {
    const void *fc_w[4], *out_w[4];  /* each head's matrices (fp32 or fp16, as the model's `half`) */
    const float *fc_b[4], *out_b[4];
    int vocab[4];
    const float *cond[3];            /* the embedding [V_k][D] of field k, added for the heads after it */
} tf_heads;

typedef struct {
    const double *bias[4];           /* each head's bias [V_k] (float64) of the note's MaskSpec */
    const double *pitch_bias;        /* added to the pitch head's (the harmony, repeat and chart priors), or NULL */
    const double *onset_pitch_bias;  /* added for a note at delta 0 only, or NULL */
    const int *struck;               /* the pitches struck at the last onset (no re-strike at delta 0) */
    int n_struck;
    const double *meter;             /* the meter prior over the deltas, or NULL */
    int meter_from, top_k;
    double temperature[4], top_p[4], uniform[4];
    double min_p, guidance;
    float *h;                        /* scratch [lanes][D] */
    float *logits;                   /* scratch [lanes][max V] */
    double *work;                    /* scratch, 2 max V */
    int *iwork;                      /* scratch, 2 max V */
    double *pitch;                   /* scratch [V_1]: the pitch head's bias for the note */
} tf_note_args;

/* The pitch head's bias [V] for a note at `delta` into out (heads.HostSampler.pitch_bias, the same additions in the
 * same order): the spec's; at delta 0 plus the no-re-strike rule (-inf at the struck pitches) and the onset's own
 * bias, unless that leaves no pitch; then pitch_bias. */
void tf_pitch_bias(const tf_note_args *a, int delta, int V, double *out) {
    const double *b = a->bias[1];
    int kept = 0;
    if (delta == 0 && (a->n_struck > 0 || a->onset_pitch_bias)) {
        for (int i = 0; i < V; i++) out[i] = 0.0;
        for (int j = 0; j < a->n_struck; j++) out[a->struck[j]] = -INFINITY;
        for (int i = 0; i < V; i++) {
            double onset = out[i];
            if (a->onset_pitch_bias) onset += a->onset_pitch_bias[i];
            out[i] = b[i] + onset;
            kept |= isfinite(out[i]) != 0;
        }
    }
    if (!kept)
        for (int i = 0; i < V; i++) out[i] = b[i];
    if (a->pitch_bias)
        for (int i = 0; i < V; i++) out[i] += a->pitch_bias[i];
}

/* The next note's fields (out[4]) from the final hidden states at position pos: head k reads them plus the
 * embeddings of the fields chosen before it, as heads.sample_note does; each field drawn as tf_sample draws it. */
void tf_note(const tf_model *m, const tf_heads *heads, const tf_note_args *a, int pos, int *out) {
    const int B = m->lanes, D = m->d_model;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < D; i++) a->h[(size_t)b * D + i] = m->hidden[((size_t)b * m->context + pos) * D + i];
    for (int k = 0; k < 4; k++) {
        const int V = heads->vocab[k];
        tf_head(m, heads->fc_w[k], heads->fc_b[k], heads->out_w[k], heads->out_b[k], V, a->h, a->logits);
        const double *bias = a->bias[k];
        if (k == 1) {
            tf_pitch_bias(a, out[0], V, a->pitch);
            bias = a->pitch;
        }
        out[k] = tf_sample(a->logits, B, V, a->guidance, bias, k == 0 ? a->meter : NULL, a->meter_from,
                           a->temperature[k], a->top_k, a->top_p[k], a->min_p, a->uniform[k], a->work, a->iwork);
        if (k < 3) {
            const float *e = heads->cond[k] + (size_t)out[k] * D;
            for (int b = 0; b < B; b++)
                for (int i = 0; i < D; i++) a->h[(size_t)b * D + i] += e[i];
        }
    }
}

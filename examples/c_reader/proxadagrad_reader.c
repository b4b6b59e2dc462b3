/*
 * proxadagrad_reader.c -- a dependency-free C99 harness for the conformance vectors.
 *
 * For each case file given on the command line it
 *   1. parses the case JSON (a tiny hand-rolled parser for the fields it needs),
 *   2. reads the payload (<id>.bin), checks its length and SHA-256,
 *   3. reads var/accum/grad as raw little-endian float32 at their offsets,
 *   4. runs its own naive float32 implementation of the dense update (the kernels' form,
 *      prox_step "adaptive", or the printed formula, "fixed"), and
 *   5. writes OUT_DIR/<id>.json + OUT_DIR/<id>.bin in the verifier's results format.
 *
 * Build (no FMA contraction, so every operation rounds once, in float32):
 *     cc -std=c99 -O2 -ffp-contract=off -o proxadagrad_reader proxadagrad_reader.c -lm
 * Run and verify:
 *     ./proxadagrad_reader RESULTS_DIR vectors/cases/dense-*-float32-exact-*.json
 *     proxadagrad-ref verify vectors --results RESULTS_DIR --op dense --profile exact
 * -DWRONG_L2 builds a deliberately wrong variant (the l2 denominator dropped) that the
 * verifier must reject. Cases other than dense float32 are skipped (reported on stderr).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SHA-256 (FIPS 180-4) ---------------------------------------------------------------- */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (i = 0; i < 64; i++) {
        t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

static void sha256_hex(const unsigned char *data, size_t n, char out[65]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    unsigned char tail[128];
    size_t full = n / 64 * 64, rest = n - full, tlen, i;
    uint64_t bits = (uint64_t)n * 8;
    for (i = 0; i < full; i += 64) sha256_block(h, data + i);
    memset(tail, 0, sizeof tail);
    memcpy(tail, data + full, rest);
    tail[rest] = 0x80;
    tlen = rest + 1 + 8 <= 64 ? 64 : 128;
    for (i = 0; i < 8; i++) tail[tlen - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (i = 0; i < tlen; i += 64) sha256_block(h, tail + i);
    for (i = 0; i < 8; i++) sprintf(out + 8 * i, "%08x", (unsigned)h[i]);
    out[64] = '\0';
}

/* ---- a minimal JSON lookup: enough for canonical case files --------------------------------- */
static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
    return p;
}

static const char *skip_string(const char *p) { /* p at the opening quote */
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1]) p++;
    return *p ? p + 1 : p;
}

static const char *skip_value(const char *p) {
    p = skip_ws(p);
    if (*p == '"') return skip_string(p);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (*p) {
            if (*p == '"') { p = skip_string(p); continue; }
            if (*p == '{' || *p == '[') depth++;
            if (*p == '}' || *p == ']') { depth--; if (depth == 0) return p + 1; }
            p++;
        }
        return p;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']') p++; /* number, true, false, null */
    return p;
}

/* The value of member `key` of the object at `obj` ('{'), or NULL. */
static const char *lookup(const char *obj, const char *key) {
    size_t klen = strlen(key);
    const char *p;
    if (!obj) return NULL;
    p = skip_ws(obj);
    if (*p != '{') return NULL;
    p = skip_ws(p + 1);
    while (*p == '"') {
        const char *name = p + 1, *end = skip_string(p);
        int match = (size_t)(end - 1 - name) == klen && strncmp(name, key, klen) == 0;
        p = skip_ws(end);
        if (*p != ':') return NULL;
        p = skip_ws(p + 1);
        if (match) return p;
        p = skip_ws(skip_value(p));
        if (*p == ',') p = skip_ws(p + 1);
    }
    return NULL;
}

/* Copy the string value at p (no escapes expected in the fields read here). */
static int get_string(const char *p, char *out, size_t cap) {
    size_t n = 0;
    if (!p || *p != '"') return 0;
    for (p++; *p && *p != '"' && n + 1 < cap; p++) out[n++] = *p;
    out[n] = '\0';
    return *p == '"';
}

static int get_long(const char *p, long *out) {
    char *end;
    if (!p) return 0;
    *out = strtol(p, &end, 10);
    return end != p;
}

typedef struct {
    long offset, nbytes, count;
    char shape[128]; /* the shape's JSON text, copied to the results */
    char dtype[16];
} ArrayRef;

static int get_ref(const char *inputs, const char *name, ArrayRef *r) {
    const char *o = lookup(inputs, name), *s, *e;
    if (!o || !get_string(lookup(o, "dtype"), r->dtype, sizeof r->dtype)) return 0;
    if (!get_long(lookup(o, "offset"), &r->offset) || !get_long(lookup(o, "nbytes"), &r->nbytes)) return 0;
    s = lookup(o, "shape");
    if (!s || *s != '[') return 0;
    e = skip_value(s);
    if ((size_t)(e - s) >= sizeof r->shape) return 0;
    memcpy(r->shape, s, (size_t)(e - s));
    r->shape[e - s] = '\0';
    r->count = 1;
    for (s++; *s && *s != ']';) {
        char *end;
        long d = strtol(s, &end, 10);
        if (end == s) break;
        r->count *= d;
        s = end;
        while (*s == ',' || *s == ' ') s++;
    }
    return 1;
}

/* ---- files ------------------------------------------------------------------------------------ */
static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[len] = 0; *n = (size_t)len; }
    return buf;
}

static float load_f32(const unsigned char *b) { /* little-endian on any host */
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void store_f32(unsigned char *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    b[0] = (unsigned char)u, b[1] = (unsigned char)(u >> 8), b[2] = (unsigned char)(u >> 16);
    b[3] = (unsigned char)(u >> 24);
}

/* ---- the update, naive float32 ---------------------------------------------------------------- */
static void step(float w, float a, float g, float lr, float l1, float l2, int adaptive, float *w_out,
                 float *a_out) {
    float a1 = a + g * g;                       /* accumulator first */
    float eta = lr / sqrtf(a1);                 /* step size of the gradient step */
    float v = w - eta * g;                      /* gradient step */
    float s = adaptive ? eta : lr;              /* shrink step: kernels' form or printed formula */
#ifdef WRONG_L2
    float d = 1.0f;                             /* deliberately wrong: l2 dropped */
    (void)l2;
#else
    float d = 1.0f + s * l2;                    /* l2 denominator */
#endif
    float out;
    if (l1 > 0.0f) {
        float m = fabsf(v) - s * l1;            /* soft threshold; NaN propagates */
        if (!(m > 0.0f) && m == m) m = 0.0f;
        out = (v != v) ? v : (v > 0.0f ? m : (v < 0.0f ? -m : 0.0f)) / d;
    } else {
        out = v / d;
    }
    *w_out = out;
    *a_out = a1;
}

static int run_case(const char *case_path, const char *out_dir) {
    size_t jn = 0, pn = 0;
    char *json = (char *)read_file(case_path, &jn);
    char id[160], op[16], dtype[16], prox[16], hex[64], file[200], digest[65], want[65];
    char path[1024];
    const char *inputs, *hyper, *payload;
    unsigned char *blob, *res;
    ArrayRef var, acc, grad;
    float lr, l1, l2;
    long n, i, pad, size;
    FILE *f;
    if (!json) { fprintf(stderr, "%s: cannot read\n", case_path); return 1; }
    if (!get_string(lookup(json, "id"), id, sizeof id) || !get_string(lookup(json, "op"), op, sizeof op) ||
        !get_string(lookup(json, "dtype"), dtype, sizeof dtype) ||
        !get_string(lookup(json, "prox_step"), prox, sizeof prox)) {
        fprintf(stderr, "%s: missing id/op/dtype/prox_step\n", case_path);
        free(json);
        return 1;
    }
    if (strcmp(op, "dense") != 0 || strcmp(dtype, "float32") != 0) {
        fprintf(stderr, "skip %s: op %s, dtype %s (this reader runs dense float32)\n", id, op, dtype);
        free(json);
        return 0;
    }
    hyper = lookup(json, "hyper");
    inputs = lookup(json, "inputs");
    payload = lookup(json, "payload");
    if (!get_string(lookup(hyper, "lr"), hex, sizeof hex)) goto bad;
    lr = (float)strtod(hex, NULL); /* hex floats, exact */
    if (!get_string(lookup(hyper, "l1"), hex, sizeof hex)) goto bad;
    l1 = (float)strtod(hex, NULL);
    if (!get_string(lookup(hyper, "l2"), hex, sizeof hex)) goto bad;
    l2 = (float)strtod(hex, NULL);
    if (!get_ref(inputs, "var", &var) || !get_ref(inputs, "accum", &acc) || !get_ref(inputs, "grad", &grad))
        goto bad;
    if (!get_string(lookup(payload, "file"), file, sizeof file) ||
        !get_string(lookup(payload, "sha256"), want, sizeof want))
        goto bad;
    if (strchr(file, '/') || strchr(file, '\\') || strstr(file, "..")) {
        fprintf(stderr, "%s: payload.file %s escapes its folder\n", case_path, file);
        free(json);
        return 1;
    }
    {   /* the payload lies next to the case file */
        const char *slash = strrchr(case_path, '/');
        int dir = slash ? (int)(slash - case_path + 1) : 0;
        snprintf(path, sizeof path, "%.*s%s", dir, case_path, file);
    }
    blob = read_file(path, &pn);
    if (!blob) { fprintf(stderr, "%s: cannot read payload %s\n", case_path, path); free(json); return 1; }
    sha256_hex(blob, pn, digest);
    if (strcmp(digest, want) != 0) {
        fprintf(stderr, "%s: payload SHA-256 mismatch\n", case_path);
        free(json), free(blob);
        return 1;
    }
    n = var.count;
    if (acc.count != n || grad.count != n || var.nbytes != 4 * n || var.offset + var.nbytes > (long)pn ||
        acc.offset + acc.nbytes > (long)pn || grad.offset + grad.nbytes > (long)pn) {
        fprintf(stderr, "%s: array references do not fit the payload\n", case_path);
        free(json), free(blob);
        return 1;
    }
    pad = (4 * n + 7) / 8 * 8; /* results: accum_out at 0, var_out at pad (keys in sorted order) */
    size = pad + 4 * n;
    res = calloc((size_t)size + 1, 1);
    for (i = 0; i < n; i++) {
        float w1, a1;
        step(load_f32(blob + var.offset + 4 * i), load_f32(blob + acc.offset + 4 * i),
             load_f32(blob + grad.offset + 4 * i), lr, l1, l2, strcmp(prox, "adaptive") == 0, &w1, &a1);
        store_f32(res + 4 * i, a1);
        store_f32(res + pad + 4 * i, w1);
    }
    sha256_hex(res, (size_t)size, digest);
    snprintf(path, sizeof path, "%s/%s.bin", out_dir, id);
    f = fopen(path, "wb");
    if (!f || fwrite(res, 1, (size_t)size, f) != (size_t)size) { fprintf(stderr, "cannot write %s\n", path); return 1; }
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.json", out_dir, id);
    f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "cannot write %s\n", path); return 1; }
    fprintf(f,
            "{\"format\":\"proxadagrad-vectors-results\",\"format_version\":1,\"id\":\"%s\","
            "\"outputs\":{\"accum_out\":{\"dtype\":\"float32\",\"nbytes\":%ld,\"offset\":0,\"shape\":%s},"
            "\"var_out\":{\"dtype\":\"float32\",\"nbytes\":%ld,\"offset\":%ld,\"shape\":%s}},"
            "\"payload\":{\"file\":\"%s.bin\",\"nbytes\":%ld,\"sha256\":\"%s\"}}\n",
            id, 4 * n, var.shape, 4 * n, pad, var.shape, id, size, digest);
    fclose(f);
    free(json), free(blob), free(res);
    return 0;
bad:
    fprintf(stderr, "%s: missing or malformed field (hyper, inputs or payload)\n", case_path);
    free(json);
    return 1;
}

int main(int argc, char **argv) {
    int i, failures = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: %s RESULTS_DIR CASE.json [CASE.json ...]\n", argv[0]);
        return 2;
    }
    for (i = 2; i < argc; i++) failures += run_case(argv[i], argv[1]) != 0;
    return failures ? 1 : 0;
}

/* SHA-256 block compression with the x86 SHA extensions (SHA-NI), the sequence Intel
 * published with the extensions ("Intel SHA Extensions", 2013): four rounds per
 * _mm_sha256rnds2_epu32 pair, the message schedule by sha256msg1/msg2. Each function carries
 * its own target attribute, so the file builds with the default flags, and the CPU is asked
 * (CPUID) before the instructions are used: elsewhere the Swift compression runs. Checked
 * against the Swift compression on random lengths and FIPS 180-4's vectors (SHA256Tests). */
#include "sha256_blocks.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

int virtplace_sha256_hardware(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    int sha = (ebx >> 29) & 1;
    return ssse3 && sse41 && sha;
}

#define ROUNDS4(msg, k0, k1, k2, k3)                                                   \
    do {                                                                               \
        __m128i m = _mm_add_epi32((msg), _mm_set_epi32((int)(k3), (int)(k2), (int)(k1), (int)(k0))); \
        state1 = _mm_sha256rnds2_epu32(state1, state0, m);                            \
        m = _mm_shuffle_epi32(m, 0x0E);                                                \
        state0 = _mm_sha256rnds2_epu32(state0, state1, m);                            \
    } while (0)

__attribute__((target("sha,sse4.1,ssse3")))
void virtplace_sha256_compress_hardware(uint32_t state[8], const uint8_t *data, size_t blocks) {
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);

    /* state0 = ABEF, state1 = CDGH, as sha256rnds2 takes them. */
    __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);    /* DCBA */
    __m128i state1 = _mm_loadu_si128((const __m128i *)&state[4]); /* HGFE */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                            /* CDAB */
    state1 = _mm_shuffle_epi32(state1, 0x1B);                      /* EFGH */
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);              /* ABEF */
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);                   /* CDGH */

    while (blocks-- > 0) {
        const __m128i abef = state0, cdgh = state1;
        __m128i msg0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 0)), byteswap);
        __m128i msg1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16)), byteswap);
        __m128i msg2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 32)), byteswap);
        __m128i msg3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 48)), byteswap);

        /* Rounds 0-15: the block's own words. */
        ROUNDS4(msg0, 0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5);
        ROUNDS4(msg1, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5);
        msg0 = _mm_sha256msg1_epu32(msg0, msg1);
        ROUNDS4(msg2, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3);
        msg1 = _mm_sha256msg1_epu32(msg1, msg2);
        ROUNDS4(msg3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174);

        /* Rounds 16-63: each group of four words from the four before it. */
/* W16..19 into msg0 */
        msg0 = _mm_add_epi32(msg0, _mm_alignr_epi8(msg3, msg2, 4));
        msg0 = _mm_sha256msg2_epu32(msg0, msg3);
        ROUNDS4(msg0, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc);
        msg2 = _mm_sha256msg1_epu32(msg2, msg3);
        /* W20..23 into msg1 */
        msg1 = _mm_add_epi32(msg1, _mm_alignr_epi8(msg0, msg3, 4));
        msg1 = _mm_sha256msg2_epu32(msg1, msg0);
        ROUNDS4(msg1, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da);
        msg3 = _mm_sha256msg1_epu32(msg3, msg0);
        /* W24..27 into msg2 */
        msg2 = _mm_add_epi32(msg2, _mm_alignr_epi8(msg1, msg0, 4));
        msg2 = _mm_sha256msg2_epu32(msg2, msg1);
        ROUNDS4(msg2, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7);
        msg0 = _mm_sha256msg1_epu32(msg0, msg1);
        /* W28..31 into msg3 */
        msg3 = _mm_add_epi32(msg3, _mm_alignr_epi8(msg2, msg1, 4));
        msg3 = _mm_sha256msg2_epu32(msg3, msg2);
        ROUNDS4(msg3, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967);
        msg1 = _mm_sha256msg1_epu32(msg1, msg2);
        /* W32..35 */
        msg0 = _mm_add_epi32(msg0, _mm_alignr_epi8(msg3, msg2, 4));
        msg0 = _mm_sha256msg2_epu32(msg0, msg3);
        ROUNDS4(msg0, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13);
        msg2 = _mm_sha256msg1_epu32(msg2, msg3);
        /* W36..39 */
        msg1 = _mm_add_epi32(msg1, _mm_alignr_epi8(msg0, msg3, 4));
        msg1 = _mm_sha256msg2_epu32(msg1, msg0);
        ROUNDS4(msg1, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85);
        msg3 = _mm_sha256msg1_epu32(msg3, msg0);
        /* W40..43 */
        msg2 = _mm_add_epi32(msg2, _mm_alignr_epi8(msg1, msg0, 4));
        msg2 = _mm_sha256msg2_epu32(msg2, msg1);
        ROUNDS4(msg2, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3);
        msg0 = _mm_sha256msg1_epu32(msg0, msg1);
        /* W44..47 */
        msg3 = _mm_add_epi32(msg3, _mm_alignr_epi8(msg2, msg1, 4));
        msg3 = _mm_sha256msg2_epu32(msg3, msg2);
        ROUNDS4(msg3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070);
        msg1 = _mm_sha256msg1_epu32(msg1, msg2);
        /* W48..51 */
        msg0 = _mm_add_epi32(msg0, _mm_alignr_epi8(msg3, msg2, 4));
        msg0 = _mm_sha256msg2_epu32(msg0, msg3);
        ROUNDS4(msg0, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5);
        msg2 = _mm_sha256msg1_epu32(msg2, msg3);
        /* W52..55 */
        msg1 = _mm_add_epi32(msg1, _mm_alignr_epi8(msg0, msg3, 4));
        msg1 = _mm_sha256msg2_epu32(msg1, msg0);
        ROUNDS4(msg1, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3);
        msg3 = _mm_sha256msg1_epu32(msg3, msg0);
        /* W56..59 */
        msg2 = _mm_add_epi32(msg2, _mm_alignr_epi8(msg1, msg0, 4));
        msg2 = _mm_sha256msg2_epu32(msg2, msg1);
        ROUNDS4(msg2, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208);
        /* W60..63 */
        msg3 = _mm_add_epi32(msg3, _mm_alignr_epi8(msg2, msg1, 4));
        msg3 = _mm_sha256msg2_epu32(msg3, msg2);
        ROUNDS4(msg3, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2);

        state0 = _mm_add_epi32(state0, abef);
        state1 = _mm_add_epi32(state1, cdgh);
        data += 64;
    }

    /* Back to DCBA and HGFE. */
    tmp = _mm_shuffle_epi32(state0, 0x1B);                 /* FEBA */
    state1 = _mm_shuffle_epi32(state1, 0xB1);              /* DCHG */
    state0 = _mm_blend_epi16(tmp, state1, 0xF0);           /* DCBA */
    state1 = _mm_alignr_epi8(state1, tmp, 8);              /* HGFE */
    _mm_storeu_si128((__m128i *)&state[0], state0);
    _mm_storeu_si128((__m128i *)&state[4], state1);
}

#else

int virtplace_sha256_hardware(void) { return 0; }

void virtplace_sha256_compress_hardware(uint32_t state[8], const uint8_t *data, size_t blocks) {
    (void)state; (void)data; (void)blocks;
}

#endif

/* SHA-256 block compression with the x86 SHA extensions, for Placement's SHA256 (Sources/Placement/SHA256.swift). */
#ifndef VIRTPLACE_SHA256_BLOCKS_H
#define VIRTPLACE_SHA256_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this CPU has the SHA extensions (with SSSE3 and SSE4.1) and this build can use them; else 0. */
int virtplace_sha256_hardware(void);

/* Compresses `blocks` whole 64-byte blocks at `data` into `state` (the eight words a..h).
 * Only when virtplace_sha256_hardware() said 1. */
void virtplace_sha256_compress_hardware(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif

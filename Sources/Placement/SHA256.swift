import CSHA256

/// SHA-256 (FIPS 180-4), small and dependency-free: Foundation on Linux has no CryptoKit.
/// The one implementation of the project: plan basis digests, domain XML digests, volume
/// checksums of a manual or cold move (hundreds of MB/s in a release build, a debug build
/// being some 20 times slower: keep volumes small in tests). Not for anything secret.
///
/// Whole 64-byte blocks are compressed straight from the caller's memory; only a partial
/// block is copied, so hashing costs no allocation but the digest's. On an x86-64 CPU with the
/// SHA extensions the blocks go through them (CSHA256, some five times faster: `observe`
/// hashes every domain's XML); elsewhere through the Swift rounds below. `SHA256Tests` holds
/// the two to the same digests.
public struct SHA256: Sendable {
    private var state = State()
    /// Bytes fed but not compressed yet: always fewer than 64.
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    /// The eight working words.
    private struct State: Sendable {
        var a: UInt32 = 0x6a09e667, b: UInt32 = 0xbb67ae85, c: UInt32 = 0x3c6ef372, d: UInt32 = 0xa54ff53a
        var e: UInt32 = 0x510e527f, f: UInt32 = 0x9b05688c, g: UInt32 = 0x1f83d9ab, h: UInt32 = 0x5be0cd19

        var words: [UInt32] { [a, b, c, d, e, f, g, h] }
    }

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// Whether blocks go through the CPU's SHA extensions (asked once).
    static let hardware = virtplace_sha256_hardware() != 0

    /// A fresh hash.
    public init() {}

    /// A fresh hash that never uses the SHA extensions (tests compare the two ways).
    init(softwareOnly: Bool) { self.softwareOnly = softwareOnly }

    private var softwareOnly = false

    /// Feeds bytes.
    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) {
            return done
        }
        Array(bytes).withUnsafeBytes { update($0) }
    }

    /// Feeds a string's UTF-8 bytes.
    public mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    /// Feeds `count` zero bytes (a hole of a sparse volume reads as zeros).
    public mutating func updateZeros(_ count: UInt64) {
        withUnsafeTemporaryAllocation(byteCount: 1 << 14, alignment: 16) { zeros in
            zeros.initializeMemory(as: UInt8.self, repeating: 0)
            var left = count
            while left > 0 {
                let chunk = Int(min(left, UInt64(zeros.count)))
                update(UnsafeRawBufferPointer(rebasing: zeros[0..<chunk]))
                left -= UInt64(chunk)
            }
        }
    }

    /// Feeds bytes from memory.
    public mutating func update(_ input: UnsafeRawBufferPointer) {
        length &+= UInt64(input.count)
        var rest = input
        if !pending.isEmpty {
            let take = min(64 - pending.count, rest.count)
            pending.append(contentsOf: rest.prefix(take))
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            guard pending.count == 64 else { return }
            let softwareOnly = softwareOnly
            pending.withUnsafeBytes { Self.compress(&state, blocks: $0, softwareOnly: softwareOnly) }
            pending.removeAll(keepingCapacity: true)
        }
        let whole = rest.count / 64 * 64
        if whole > 0 { Self.compress(&state, blocks: UnsafeRawBufferPointer(rebasing: rest.prefix(whole)), softwareOnly: softwareOnly) }
        if whole < rest.count { pending.append(contentsOf: rest.dropFirst(whole)) }
    }

    /// The 32-byte digest of everything fed so far.
    public func finalize() -> [UInt8] {
        finalState().words.flatMap { word in
            [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)]
        }
    }

    /// The digest of `bytes`, as 64 lower-case hex digits.
    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var hash = SHA256()
        hash.update(bytes)
        return hash.hexDigest()
    }

    /// The digest of everything fed so far, as 64 lower-case hex digits. Feeding more after
    /// it goes on from where it was.
    public func hexDigest() -> String {
        let words = finalState().words
        return String(unsafeUninitializedCapacity: 64) { text in
            let digits: StaticString = "0123456789abcdef"
            var index = 0
            for word in words {
                for shift in stride(from: 28, through: 0, by: -4) {
                    text[index] = digits.utf8Start[Int((word >> UInt32(shift)) & 0xf)]
                    index += 1
                }
            }
            return 64
        }
    }

    /// The digest of a string's UTF-8 bytes, as hex.
    public static func hex(_ string: String) -> String {
        var copy = string
        return copy.withUTF8 { hex(UnsafeRawBufferPointer($0)) }
    }

    /// The digest of bytes in memory, as hex.
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        var hash = SHA256()
        hash.update(bytes)
        return hash.hexDigest()
    }

    /// The state after padding: the pending bytes, 0x80, zeros, and the length in bits, in one
    /// block or two.
    private func finalState() -> State {
        var state = self.state
        withUnsafeTemporaryAllocation(byteCount: 128, alignment: 8) { block in
            block.initializeMemory(as: UInt8.self, repeating: 0)
            pending.withUnsafeBytes { block.copyMemory(from: $0) }
            block[pending.count] = 0x80
            let count = pending.count < 56 ? 64 : 128
            block.storeBytes(of: (length &* 8).bigEndian, toByteOffset: count - 8, as: UInt64.self)
            Self.compress(&state, blocks: UnsafeRawBufferPointer(rebasing: block.prefix(count)), softwareOnly: softwareOnly)
        }
        return state
    }

    /// Compresses whole 64-byte blocks into `state`: with the CPU's SHA extensions when it has
    /// them, else in Swift.
    private static func compress(_ state: inout State, blocks: UnsafeRawBufferPointer, softwareOnly: Bool) {
        guard hardware, !softwareOnly, let base = blocks.baseAddress else { return compressInSwift(&state, blocks: blocks) }
        var words = (state.a, state.b, state.c, state.d, state.e, state.f, state.g, state.h)
        withUnsafeMutableBytes(of: &words) { words in
            virtplace_sha256_compress_hardware(words.baseAddress!.assumingMemoryBound(to: UInt32.self),
                                               base.assumingMemoryBound(to: UInt8.self), blocks.count / 64)
        }
        (state.a, state.b, state.c, state.d, state.e, state.f, state.g, state.h) = words
    }

    /// Compresses whole 64-byte blocks into `state`: the schedule kept in 16 words, rounds
    /// written out eight at a time with the working variables renamed instead of shifted.
    private static func compressInSwift(_ state: inout State, blocks: UnsafeRawBufferPointer) {
        k.withUnsafeBufferPointer { k in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { w in
                var offset = 0
                while offset + 64 <= blocks.count {
                    for i in 0..<16 {
                        w[i] = UInt32(bigEndian: blocks.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self))
                    }
                    var a = state.a, b = state.b, c = state.c, d = state.d
                    var e = state.e, f = state.f, g = state.g, h = state.h
                    @inline(__always) func round(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
                                                 _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32, _ kw: UInt32) {
                        let t1 = h &+ (e.rotatedRight(6) ^ e.rotatedRight(11) ^ e.rotatedRight(25)) &+ ((e & f) ^ (~e & g)) &+ kw
                        let t2 = (a.rotatedRight(2) ^ a.rotatedRight(13) ^ a.rotatedRight(22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                        d = d &+ t1
                        h = t1 &+ t2
                    }
                    @inline(__always) func schedule(_ i: Int) -> UInt32 {
                        if i >= 16 {
                            let w15 = w[(i - 15) & 15], w2 = w[(i - 2) & 15]
                            let s0 = w15.rotatedRight(7) ^ w15.rotatedRight(18) ^ (w15 >> 3)
                            let s1 = w2.rotatedRight(17) ^ w2.rotatedRight(19) ^ (w2 >> 10)
                            w[i & 15] = w[i & 15] &+ s0 &+ w[(i - 7) & 15] &+ s1
                        }
                        return w[i & 15] &+ k[i]
                    }
                    var i = 0
                    while i < 64 {
                        round(a, b, c, &d, e, f, g, &h, schedule(i))
                        round(h, a, b, &c, d, e, f, &g, schedule(i + 1))
                        round(g, h, a, &b, c, d, e, &f, schedule(i + 2))
                        round(f, g, h, &a, b, c, d, &e, schedule(i + 3))
                        round(e, f, g, &h, a, b, c, &d, schedule(i + 4))
                        round(d, e, f, &g, h, a, b, &c, schedule(i + 5))
                        round(c, d, e, &f, g, h, a, &b, schedule(i + 6))
                        round(b, c, d, &e, f, g, h, &a, schedule(i + 7))
                        i += 8
                    }
                    state.a &+= a; state.b &+= b; state.c &+= c; state.d &+= d
                    state.e &+= e; state.f &+= f; state.g &+= g; state.h &+= h
                    offset += 64
                }
            }
        }
    }
}

extension UInt32 {
    fileprivate func rotatedRight(_ count: UInt32) -> UInt32 {
        (self >> count) | (self << (32 - count))
    }
}

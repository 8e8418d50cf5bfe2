@testable import Placement
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    @Test("FIPS 180-4 / NIST vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        ("The quick brown fox jumps over the lazy dog",
         "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"),
        (String(repeating: "a", count: 1000), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
    ])
    func vectors(input: String, digest: String) {
        #expect(SHA256.hex(input) == digest)
        // Fed in uneven pieces across block boundaries, as strings and as raw memory.
        var strings = SHA256()
        for character in input { strings.update(String(character)) }
        #expect(strings.hexDigest() == digest)
        var raw = SHA256()
        var bytes = Array(input.utf8)[...]
        var piece = 1
        while !bytes.isEmpty {
            bytes.prefix(piece).withUnsafeBytes { raw.update($0) }
            bytes = bytes.dropFirst(piece)
            piece = piece * 3 % 97 + 1
        }
        #expect(raw.hexDigest() == digest)
    }

    @Test("one million 'a'")
    func millionA() {
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("lengths around the block and padding boundaries, fed in pieces")
    func incremental() {
        for length in [55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var hash = SHA256()
            var index = 0
            var step = 1
            while index < bytes.count {
                let end = min(bytes.count, index + step)
                hash.update(bytes[index..<end])
                index = end
                step = step % 70 + 3
            }
            let digits = hash.finalize().map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
            #expect(digits == SHA256.hex(bytes), "length \(length)")
        }
    }

    @Test("zeros fed as a hole hash like zero bytes; a digest leaves the hash as it was")
    func zeros() {
        var a = SHA256()
        a.update(UnsafeRawBufferPointer(start: nil, count: 0))
        a.update([1, 2, 3] as [UInt8])
        a.updateZeros(200_000)
        var b = SHA256()
        b.update([1, 2, 3] as [UInt8])
        [UInt8](repeating: 0, count: 200_000).withUnsafeBytes { b.update($0) }
        #expect(a.hexDigest() == b.hexDigest())
        let first = a.hexDigest()
        a.update("more")
        b.update("more")
        #expect(a.hexDigest() == b.hexDigest())
        #expect(a.hexDigest() != first)
    }

    @Test("lengths around the padding boundaries; bytes (i*7+3) % 256; digests from Python's hashlib", arguments: [
        (55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"),
        (56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"),
        (63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"),
        (64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"),
        (65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"),
        (119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"),
        (120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"),
        (1000, "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371"),
    ])
    func boundaries(_ length: Int, _ digest: String) {
        #expect(SHA256.hex((0..<length).map { UInt8(($0 * 7 + 3) % 256) }) == digest)
    }

    @Test("the CPU's SHA extensions and the Swift rounds give the same digests (seeded random bytes, fed in pieces)")
    func hardwareAndSwiftAgree() {
        // On a CPU without the extensions both ways are the Swift rounds, and this only holds
        // the test hook to the default; the vectors above then test the Swift rounds alone.
        var seed: UInt64 = 0x5EED_5A25
        func next() -> UInt64 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return seed >> 33
        }
        for length in Array(0...200) + [511, 512, 513, 4095, 65_537] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: next()) }
            var fast = SHA256(), slow = SHA256(softwareOnly: true)
            var index = 0
            while index < bytes.count {
                let end = min(bytes.count, index + Int(next() % 150) + 1)
                bytes[index..<end].withUnsafeBytes { fast.update($0); slow.update($0) }
                index = end
            }
            #expect(fast.hexDigest() == slow.hexDigest(), "length \(length)")
        }
    }
}

/// Byte-level facts about an input that libyaml does not tell us, or tells badly: whether it
/// is valid UTF-8, where a byte is as line:column, and whether it looks like JSON.
///
/// Lines break where libyaml breaks them (LF, CR, CRLF, NEL, LS, PS) and columns count
/// Unicode scalars, so positions computed here agree with libyaml's marks.
enum SourceText {
    /// The first problem that makes `bytes` unacceptable before parsing: a byte-order mark,
    /// invalid UTF-8, or a control character YAML forbids. Returns `(offset, message)`.
    static func firstEncodingProblem(_ bytes: UnsafeBufferPointer<UInt8>) -> (offset: Int, message: String)? {
        let count = bytes.count
        if count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            return (0, "file starts with a byte-order mark (BOM); save it as UTF-8 without a BOM")
        }
        if count >= 2, (bytes[0] == 0xFE && bytes[1] == 0xFF) || (bytes[0] == 0xFF && bytes[1] == 0xFE) {
            return (0, "file starts with a UTF-16 byte-order mark; save it as UTF-8 without a BOM")
        }
        var i = 0
        while i < count {
            let b0 = bytes[i]
            if b0 < 0x80 {
                // Printable ASCII, tab, LF and CR are the only ASCII YAML allows.
                if b0 >= 0x20 && b0 != 0x7F || b0 == 0x09 || b0 == 0x0A || b0 == 0x0D {
                    i += 1
                    continue
                }
                return (i, "control character \(unicodeName(UInt32(b0))) is not allowed")
            }
            let width: Int
            let scalar: UInt32
            if b0 & 0xE0 == 0xC0 {
                width = 2
                scalar = UInt32(b0 & 0x1F)
            } else if b0 & 0xF0 == 0xE0 {
                width = 3
                scalar = UInt32(b0 & 0x0F)
            } else if b0 & 0xF8 == 0xF0 {
                width = 4
                scalar = UInt32(b0 & 0x07)
            } else {
                return (i, "invalid UTF-8 (byte \(hex(b0)))")
            }
            guard i + width <= count else {
                return (i, "invalid UTF-8 (truncated sequence starting with byte \(hex(b0)))")
            }
            var value = scalar
            for k in 1..<width {
                let b = bytes[i + k]
                guard b & 0xC0 == 0x80 else {
                    return (i, "invalid UTF-8 (byte \(hex(b0)) followed by \(hex(b)))")
                }
                value = value << 6 | UInt32(b & 0x3F)
            }
            let minimum: UInt32 = width == 2 ? 0x80 : width == 3 ? 0x800 : 0x10000
            if value < minimum {
                return (i, "invalid UTF-8 (overlong encoding starting with byte \(hex(b0)))")
            }
            if value > 0x10FFFF || (0xD800...0xDFFF).contains(value) {
                return (i, "invalid UTF-8 (encodes no Unicode scalar, starting with byte \(hex(b0)))")
            }
            // YAML's printable set: C1 controls (but NEL), U+FFFE and U+FFFF are out.
            if (0x80...0x9F).contains(value) && value != 0x85 || value == 0xFFFE || value == 0xFFFF {
                return (i, "control character \(unicodeName(value)) is not allowed")
            }
            i += width
        }
        return nil
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "0x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }

    static func unicodeName(_ value: UInt32) -> String {
        var digits = String(value, radix: 16, uppercase: true)
        while digits.count < 4 { digits = "0" + digits }
        return "U+" + digits
    }

    /// The width of the line break starting at `i`, or 0 when there is none there.
    @inline(__always)
    static func lineBreakWidth(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        switch bytes[i] {
        case 0x0A: return 1
        case 0x0D: return i + 1 < bytes.count && bytes[i + 1] == 0x0A ? 2 : 1
        case 0xC2: return i + 1 < bytes.count && bytes[i + 1] == 0x85 ? 2 : 0
        case 0xE2:
            return i + 2 < bytes.count && bytes[i + 1] == 0x80 && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9) ? 3 : 0
        default: return 0
        }
    }

    /// The 1-based line and column of the byte at `offset`.
    static func position(ofByte offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        var i = 0
        let end = min(offset, bytes.count)
        while i < end {
            let width = lineBreakWidth(bytes, at: i)
            if width > 0 {
                line += 1
                column = 1
                i += width
            } else {
                if bytes[i] & 0xC0 != 0x80 { column += 1 }
                i += 1
            }
        }
        return (line, column)
    }

    /// The byte offset of a libyaml mark (0-based line, 0-based column in scalars), or nil
    /// when it is past the end.
    static func offset(line: Int, column: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        var currentLine = 0
        while currentLine < line {
            guard i < bytes.count else { return nil }
            let width = lineBreakWidth(bytes, at: i)
            if width > 0 {
                currentLine += 1
                i += width
            } else {
                i += 1
            }
        }
        var remaining = column
        while remaining > 0 {
            guard i < bytes.count else { return nil }
            i += 1
            while i < bytes.count && bytes[i] & 0xC0 == 0x80 { i += 1 }
            remaining -= 1
        }
        return i < bytes.count ? i : nil
    }

    /// The offset where the line holding `offset` starts.
    static func lineStart(before offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var i = offset
        while i > 0 {
            let b = bytes[i - 1]
            if b == 0x0A || b == 0x0D { break }
            if b == 0x85, i >= 2, bytes[i - 2] == 0xC2 { break }
            if (b == 0xA8 || b == 0xA9), i >= 3, bytes[i - 2] == 0x80, bytes[i - 3] == 0xE2 { break }
            i -= 1
        }
        return i
    }

    /// Whether an input is to be treated as JSON: its name ends in `.json`, or its first
    /// character after whitespace opens a flow collection.
    static func looksLikeJSON(_ bytes: UnsafeBufferPointer<UInt8>, file: String) -> Bool {
        if file.lowercased().hasSuffix(".json") { return true }
        for b in bytes {
            switch b {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "{"), UInt8(ascii: "["): return true
            default: return false
            }
        }
        return false
    }
}

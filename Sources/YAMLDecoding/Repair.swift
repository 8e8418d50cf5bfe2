import CYAML

/// Repairs for the few things libyaml 0.2.5 rejects although YAML or JSON allow them.
///
/// Each repair is made only where libyaml stopped, so it never touches the inside of a
/// scalar libyaml has not complained about:
/// - a tab where a space would do (after `- `, on a blank or comment-only line, or anywhere
///   in the leading whitespace of a JSON file) becomes a space; columns do not move, since
///   both count as one;
/// - a JSON surrogate-pair escape (`"\ud83d\ude00"`, as Python's `json.dumps` writes) in a
///   double-quoted scalar becomes the equivalent `\U0001F600`, and the two columns this
///   saves are added back to every later position on that line.
enum Repair {
    /// Each repair costs a parse, so a file needing more than this many is refused.
    static let maximum = 32

    private static let tab = UInt8(ascii: "\t")
    private static let space = UInt8(ascii: " ")
    private static let backslash = UInt8(ascii: "\\")

    static func attempt(
        _ failure: LibyamlFailure, source: [UInt8], json: Bool, corrections: inout ColumnCorrections
    ) -> [UInt8]? {
        guard failure.kind == YAML_SCANNER_ERROR || failure.kind == YAML_PARSER_ERROR else {
            return nil
        }
        return source.withUnsafeBufferPointer { buffer -> [UInt8]? in
            guard let offset = failure.offset(in: buffer) else { return nil }
            if buffer[offset] == tab {
                return replaceTabs(at: offset, in: buffer, json: json)
            }
            if failure.problem == "found invalid Unicode character escape code",
                offset >= 2, buffer[offset - 2] == backslash, buffer[offset - 1] == UInt8(ascii: "u"),
                surrogatePair(at: offset - 2, in: buffer) != nil,
                let quote = SourceText.offset(
                    line: failure.contextMark.line, column: failure.contextMark.column, in: buffer),
                buffer[quote] == UInt8(ascii: "\""), quote < offset
            {
                return rewriteSurrogates(in: buffer, from: quote, wholeFile: json, corrections: &corrections)
            }
            return nil
        }
    }

    /// Whether the tab at `offset` is in the leading whitespace of a line with content.
    static func isIndentationTab(at offset: Int, in buffer: UnsafeBufferPointer<UInt8>) -> Bool {
        let run = whitespaceRun(around: offset, in: buffer)
        return run.leading && !run.restBlank
    }

    private static func whitespaceRun(
        around offset: Int, in buffer: UnsafeBufferPointer<UInt8>
    ) -> (start: Int, end: Int, leading: Bool, restBlank: Bool) {
        let lineStart = SourceText.lineStart(before: offset, in: buffer)
        var start = offset
        while start > lineStart && (buffer[start - 1] == tab || buffer[start - 1] == space) { start -= 1 }
        var end = offset
        while end < buffer.count && (buffer[end] == tab || buffer[end] == space) { end += 1 }
        let restBlank = end == buffer.count || buffer[end] == UInt8(ascii: "#")
            || SourceText.lineBreakWidth(buffer, at: end) > 0
        return (start, end, start == lineStart, restBlank)
    }

    private static func replaceTabs(at offset: Int, in buffer: UnsafeBufferPointer<UInt8>, json: Bool) -> [UInt8]? {
        let run = whitespaceRun(around: offset, in: buffer)
        if run.leading && !run.restBlank && !json { return nil }
        var copy = Array(buffer)
        for i in run.start..<run.end where copy[i] == tab { copy[i] = space }
        return copy
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private static func escapeValue(at i: Int, in buffer: UnsafeBufferPointer<UInt8>) -> UInt32? {
        guard i + 6 <= buffer.count, buffer[i] == backslash, buffer[i + 1] == UInt8(ascii: "u") else { return nil }
        var value: UInt32 = 0
        for k in 2..<6 {
            guard let digit = hexValue(buffer[i + k]) else { return nil }
            value = value << 4 | digit
        }
        return value
    }

    /// The code point of a `\uD8xx\uDCxx` pair starting at `i`.
    static func surrogatePair(at i: Int, in buffer: UnsafeBufferPointer<UInt8>) -> UInt32? {
        guard let high = escapeValue(at: i, in: buffer), (0xD800...0xDBFF).contains(high),
            let low = escapeValue(at: i + 6, in: buffer), (0xDC00...0xDFFF).contains(low)
        else { return nil }
        return 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
    }

    private enum LexState { case outside, double, single, comment }

    /// Rewrites surrogate pairs in double-quoted scalars from the one opening at `start`:
    /// only that one, or (for JSON) every later one too.
    private static func rewriteSurrogates(
        in buffer: UnsafeBufferPointer<UInt8>, from start: Int, wholeFile: Bool,
        corrections: inout ColumnCorrections
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(buffer.count)
        out.append(contentsOf: buffer[0..<start])
        let begin = SourceText.position(ofByte: start, in: buffer)
        var line = begin.line - 1
        var column = begin.column - 1
        var state = LexState.outside
        var previous: UInt8 = start > 0 ? buffer[start - 1] : UInt8(ascii: "\n")
        var finished = false
        var i = start
        while i < buffer.count {
            let byte = buffer[i]
            let breakWidth = SourceText.lineBreakWidth(buffer, at: i)
            if breakWidth > 0 {
                out.append(contentsOf: buffer[i..<(i + breakWidth)])
                i += breakWidth
                line += 1
                column = 0
                previous = UInt8(ascii: "\n")
                if state == .comment { state = .outside }
                continue
            }
            if finished {
                out.append(byte)
                i += 1
                continue
            }
            switch state {
            case .outside:
                if byte == UInt8(ascii: "\"") {
                    state = .double
                } else if byte == UInt8(ascii: "'"), isBoundary(previous) {
                    state = .single
                } else if byte == UInt8(ascii: "#"), previous == space || previous == tab || previous == UInt8(ascii: "\n") {
                    state = .comment
                }
            case .double:
                if byte == backslash {
                    if let scalar = surrogatePair(at: i, in: buffer) {
                        out.append(contentsOf: Array("\\U".utf8) + hexDigits(scalar, count: 8))
                        i += 12
                        column += 10
                        corrections.add(line: line, after: column, delta: 2)
                        previous = UInt8(ascii: "0")
                        continue
                    }
                    // Copy the escaped character too, so an escaped quote does not end the scalar.
                    out.append(byte)
                    i += 1
                    column += 1
                    if i < buffer.count, SourceText.lineBreakWidth(buffer, at: i) == 0 {
                        out.append(buffer[i])
                        if buffer[i] & 0xC0 != 0x80 { column += 1 }
                        previous = buffer[i]
                        i += 1
                    }
                    continue
                }
                if byte == UInt8(ascii: "\"") {
                    state = .outside
                    if !wholeFile { finished = true }
                }
            case .single:
                if byte == UInt8(ascii: "'") {
                    if i + 1 < buffer.count, buffer[i + 1] == UInt8(ascii: "'") {
                        out.append(byte)
                        out.append(byte)
                        i += 2
                        column += 2
                        continue
                    }
                    state = .outside
                }
            case .comment:
                break
            }
            out.append(byte)
            if byte & 0xC0 != 0x80 { column += 1 }
            previous = byte
            i += 1
        }
        return out
    }

    private static func isBoundary(_ byte: UInt8) -> Bool {
        switch byte {
        case space, tab, UInt8(ascii: "\n"), UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: ","),
            UInt8(ascii: ":"), UInt8(ascii: "?"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    private static func hexDigits(_ value: UInt32, count: Int) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        return (0..<count).reversed().map { digits[Int((value >> (UInt32($0) * 4)) & 0xF)] }
    }
}

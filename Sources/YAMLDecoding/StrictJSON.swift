/// Strict JSON (RFC 8259) syntax, checked before libyaml reads a file meant as JSON.
///
/// libyaml reads JSON as YAML flow style, which is far more lenient: a trailing comma
/// (`{"a": 1,}`), comments, single quotes, unquoted keys and `NaN` all pass. A file named
/// `*.json` (and standard input that starts with `{` or `[`) says it is JSON, so it is held to
/// JSON's grammar: the first place it breaks it is a located error. One pass over the bytes,
/// an explicit stack (no recursion), so its time is linear and its depth unbounded.
enum StrictJSON {
    /// Whether a source is held to strict JSON: its name ends in `.json`, or it is standard
    /// input (`<stdin>` or `-`) whose first non-blank character is `{` or `[`.
    static func applies(file: String, bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if file.lowercased().hasSuffix(".json") { return true }
        guard file == "<stdin>" || file == "-" else { return false }
        return SourceText.looksLikeJSON(bytes, file: "")
    }

    /// The byte offset and description of the first place `bytes` is not exactly one JSON
    /// value (with white space around it), or nil when it is one.
    static func firstProblem(_ bytes: UnsafeBufferPointer<UInt8>) -> (offset: Int, message: String)? {
        var scanner = Scanner(bytes: bytes)
        return scanner.run()
    }

    private enum Container { case object, array }

    private enum Expect {
        /// A value (the top level, after `:` or after `,` in an array).
        case value
        /// A value or `]` (just after `[`).
        case valueOrClose
        /// A key or `}` (just after `{`).
        case keyOrClose
        /// A key (after `,` in an object).
        case key
        case colon
        case commaOrClose
        case end
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0
        var stack: [Container] = []

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func run() -> (offset: Int, message: String)? {
            var expect = Expect.value
            while true {
                skipWhiteSpace()
                guard i < bytes.count else {
                    return expect == .end ? nil : (i, "unexpected end of the file (an unclosed '{', '[' or a missing value)")
                }
                let c = bytes[i]
                switch expect {
                case .end:
                    if c == UInt8(ascii: "/") || c == UInt8(ascii: "#") { return (i, "comments are not JSON") }
                    return (i, "more after the JSON value: a JSON file holds one value")
                case .colon:
                    guard c == UInt8(ascii: ":") else { return (i, "expected ':' after the key") }
                    i += 1
                    expect = .value
                case .commaOrClose:
                    let top = stack.last
                    if c == UInt8(ascii: ",") {
                        let comma = i
                        i += 1
                        expect = top == .object ? .key : .value
                        // A trailing comma is what libyaml lets through: name it.
                        skipWhiteSpace()
                        if i < bytes.count, bytes[i] == UInt8(ascii: "}") || bytes[i] == UInt8(ascii: "]") {
                            return (comma, "trailing comma before '\(Character(Unicode.Scalar(bytes[i])))' (JSON allows none)")
                        }
                    } else if c == UInt8(ascii: "}"), top == .object {
                        i += 1
                        stack.removeLast()
                        expect = stack.isEmpty ? .end : .commaOrClose
                    } else if c == UInt8(ascii: "]"), top == .array {
                        i += 1
                        stack.removeLast()
                        expect = stack.isEmpty ? .end : .commaOrClose
                    } else {
                        return (i, top == .object ? "expected ',' or '}'" : "expected ',' or ']'")
                    }
                case .keyOrClose, .key:
                    if c == UInt8(ascii: "}"), expect == .keyOrClose {
                        i += 1
                        stack.removeLast()
                        expect = stack.isEmpty ? .end : .commaOrClose
                    } else if c == UInt8(ascii: "\"") {
                        if let problem = string() { return problem }
                        expect = .colon
                    } else {
                        return (i, unexpected(c, what: "a key in double quotes"))
                    }
                case .value, .valueOrClose:
                    if c == UInt8(ascii: "]"), expect == .valueOrClose {
                        i += 1
                        stack.removeLast()
                        expect = stack.isEmpty ? .end : .commaOrClose
                        continue
                    }
                    switch c {
                    case UInt8(ascii: "{"):
                        i += 1
                        stack.append(.object)
                        expect = .keyOrClose
                        continue
                    case UInt8(ascii: "["):
                        i += 1
                        stack.append(.array)
                        expect = .valueOrClose
                        continue
                    case UInt8(ascii: "\""):
                        if let problem = string() { return problem }
                    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                        if let problem = number() { return problem }
                    case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                        if let problem = literal() { return problem }
                    default:
                        return (i, unexpected(c, what: "a value"))
                    }
                    expect = stack.isEmpty ? .end : .commaOrClose
                }
            }
        }

        mutating func skipWhiteSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }

        /// What YAML allows and JSON does not, named.
        func unexpected(_ c: UInt8, what: String) -> String {
            switch c {
            case UInt8(ascii: "'"): return "single quotes are not JSON (use double quotes)"
            case UInt8(ascii: "/"), UInt8(ascii: "#"): return "comments are not JSON"
            case UInt8(ascii: ","): return "expected \(what), found ',' (an empty entry or a trailing comma)"
            case UInt8(ascii: "}"), UInt8(ascii: "]"): return "expected \(what), found '\(Character(Unicode.Scalar(c)))'"
            default:
                let word = self.word()
                if ["NaN", "Infinity", "+Infinity", "-Infinity", "nan", "inf", ".nan", ".inf"].contains(word) {
                    return "'\(word)' is not a JSON number (JSON has no NaN or infinity)"
                }
                if word.isEmpty { return "expected \(what)" }
                return "expected \(what), found unquoted '\(word)' (JSON strings and keys need double quotes)"
            }
        }

        /// The run of letters, digits, `.`, `_`, `+`, `-` at `i`, at most 40 bytes, for messages.
        func word() -> String {
            var end = i
            while end < bytes.count, end - i < 40 {
                let b = bytes[end]
                let plain = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                    || b == 0x2E || b == 0x5F || b == 0x2B || b == 0x2D
                if !plain { break }
                end += 1
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[i..<end]), as: UTF8.self)
        }

        /// A string at `i` (its opening quote); `i` moves past its closing quote.
        mutating func string() -> (offset: Int, message: String)? {
            let start = i
            i += 1
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    i += 1
                    return nil
                }
                if c < 0x20 { return (i, "a control character in a string (write it as an escape, like \\n or \\t)") }
                if c == UInt8(ascii: "\\") {
                    guard i + 1 < bytes.count else { break }
                    let e = bytes[i + 1]
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        i += 2
                    case UInt8(ascii: "u"):
                        guard i + 5 < bytes.count, (2...5).allSatisfy({ isHex(bytes[i + $0]) }) else {
                            return (i, "'\\u' needs four hex digits")
                        }
                        i += 6
                    default:
                        return (i, "invalid escape '\\\(Character(Unicode.Scalar(e)))' (JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
                    }
                    continue
                }
                i += 1
            }
            return (start, "a string with no closing '\"'")
        }

        /// A number at `i`, by JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`.
        mutating func number() -> (offset: Int, message: String)? {
            let start = i
            func digits() -> Int {
                var n = 0
                while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1; n += 1 }
                return n
            }
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") else {
                i = start
                return (start, unexpected(bytes[start], what: "a value"))
            }
            if bytes[i] == UInt8(ascii: "0") {
                i += 1
                if i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                    return (start, "a number with a leading zero is not JSON")
                }
            } else {
                _ = digits()
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                if digits() == 0 { return (start, "a number needs digits after its '.'") }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                if digits() == 0 { return (start, "a number needs digits in its exponent") }
            }
            return nil
        }

        /// `true`, `false` or `null` at `i`.
        mutating func literal() -> (offset: Int, message: String)? {
            for word in ["true", "false", "null"] {
                let utf8 = Array(word.utf8)
                if i + utf8.count <= bytes.count, bytes[i..<i + utf8.count].elementsEqual(utf8) {
                    let after = i + utf8.count
                    // `nullx`, `trueish`: one token, not JSON.
                    if after < bytes.count, isWordByte(bytes[after]) { break }
                    i = after
                    return nil
                }
            }
            return (i, unexpected(bytes[i], what: "a value"))
        }

        func isHex(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)
        }

        func isWordByte(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
        }
    }
}

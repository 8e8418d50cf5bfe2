/// One escaping rule per output. Every string from outside (names, tags, paths, libvirt's
/// messages, reasons quoting them) passes through one of these before it is printed, written
/// into markdown or JSON, or sent to libvirt as XML. docs/security.md ("Strings in outputs")
/// states the rules with examples.
///
/// What counts as unsafe is the same everywhere: C0 controls (U+0000–U+001F, ESC among them),
/// DEL, C1 controls (U+0080–U+009F: U+009B is a one-character CSI on some terminals), format
/// characters (general category Cf: the bidi overrides and isolates U+202A–U+202E,
/// U+2066–U+2069, zero-width characters, U+FEFF, …) and the line and paragraph separators
/// U+2028, U+2029. Each output writes them in the form it can hold.
public enum Escape {
    // MARK: Terminal

    /// A value for a terminal line: every unsafe character shown visibly, so that no value can
    /// move the cursor, change colours or the title, hide text, reorder it, or start a line of
    /// its own. `\n`, `\r`, `\t` as those two characters; other characters up to U+00FF as
    /// `\xHH` (`\x1b` for ESC, `\x7f` for DEL, `\x9b`); the others as `\u{HHHH}` (`\u{202e}`).
    /// A backslash is kept as is (the JSON output is the unambiguous form).
    public static func terminal(_ text: String) -> String {
        guard needsEscaping(text, keepingNewlines: false) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            if isUnsafe(scalar) { appendVisible(scalar, to: &out) } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    /// Text assembled by virtplace for the terminal (many lines, its own colours), as the
    /// console's last guard: line feeds kept, `ESC [ digits/semicolons m` (colour, SGR) kept
    /// when `keepingColor`, every other unsafe character shown as `terminal(_:)` shows it.
    /// Values were already escaped where they were put into the text; this catches any that
    /// were not, so that nothing raw reaches a terminal or a log, whatever the stream is.
    public static func terminalOutput(_ text: String, keepingColor: Bool) -> String {
        guard needsEscaping(text, keepingNewlines: true) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let scalar = scalars[i]
            if scalar == "\n" || !isUnsafe(scalar) {
                out.unicodeScalars.append(scalar)
                i += 1
                continue
            }
            if keepingColor, scalar == "\u{1B}", let end = sgrEnd(scalars, from: i) {
                out.unicodeScalars.append(contentsOf: scalars[i...end])
                i = end + 1
                continue
            }
            appendVisible(scalar, to: &out)
            i += 1
        }
        return out
    }

    /// The index of the `m` ending an SGR sequence `ESC [ [0-9;]* m` that starts at `start`.
    private static func sgrEnd(_ scalars: [Unicode.Scalar], from start: Int) -> Int? {
        var i = start + 1
        guard i < scalars.count, scalars[i] == "[" else { return nil }
        i += 1
        // Our own sequences are short (`ESC[0m`, `ESC[31m`); a longer one is not ours.
        while i < scalars.count, i - start <= 12 {
            switch scalars[i] {
            case "0"..."9", ";": i += 1
            case "m": return i
            default: return nil
            }
        }
        return nil
    }

    // MARK: Markdown

    /// A value as markdown text (a table cell, a list item): unsafe characters as
    /// `terminal(_:)` shows them, then every character markdown or HTML would act on made
    /// literal: `\` `` ` `` `*` `_` `[` `]` `~` `#` `|` with a backslash (GitHub's tables also
    /// honour `\|` inside code), `<` `>` `&` as entities. A value can then neither end its
    /// cell or row, nor open a link, an image, emphasis, code or an HTML tag.
    public static func markdownText(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for character in terminal(text) {
            switch character {
            case "\\", "`", "*", "_", "[", "]", "~", "#", "|":
                out.append("\\")
                out.append(character)
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A value as a markdown code span, fit for a table cell: unsafe characters as
    /// `terminal(_:)` shows them, `|` as `\|` (a GitHub table splits cells before it reads
    /// code spans, and drops that backslash), fenced by one backtick more than the longest run
    /// of backticks in the value (padded with a space when it starts or ends with one).
    /// Inside code nothing else is interpreted: no HTML, no link, no mention.
    public static func markdownCode(_ text: String) -> String {
        var body = ""
        var run = 0, longest = 0
        for character in terminal(text) {
            if character == "`" { run += 1; longest = max(longest, run) } else { run = 0 }
            if character == "|" { body += "\\|" } else { body.append(character) }
        }
        if body.isEmpty { return "` `" }
        let fence = String(repeating: "`", count: longest + 1)
        let pad = body.first == "`" || body.last == "`" ? " " : ""
        return fence + pad + body + pad + fence
    }

    // MARK: JSON

    /// A JSON string literal, quotes included: `"` and `\` with a backslash; `\b \f \n \r \t`;
    /// every other unsafe character as `\uHHHH` (a surrogate pair above U+FFFF), so that the
    /// JSON holds no raw control, no DEL, C1, bidi or separator character even where JSON
    /// would allow it (U+2028 breaks JavaScript; the others a terminal that shows the JSON).
    public static func jsonString(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 2)
        appendJSONString(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether UTF-8 bytes go into a JSON string as they are: printable ASCII but `"` and `\`.
    static func isPlainJSON(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in utf8 where byte < 0x20 || byte >= 0x7F || byte == 0x22 || byte == 0x5C { return false }
        return true
    }

    /// `jsonString(_:)` appended to UTF-8 bytes (for writers that build bytes).
    public static func appendJSONString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        // Most values are plain ASCII with nothing to escape: one scan over the bytes in place,
        // one copy.
        var text = text
        let plain = text.withUTF8 { utf8 in
            guard isPlainJSON(utf8) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if !plain {
            appendEscaped(text, to: &bytes)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The inside of a JSON string that is not plain ASCII: unsafe characters and JSON's own
    /// as escapes, the rest as it is.
    private static func appendEscaped(_ text: String, to bytes: inout [UInt8]) {
        if !text.utf8.contains(where: { $0 == 0x22 || $0 == 0x5C }) && !needsEscaping(text, keepingNewlines: false) {
            bytes.append(contentsOf: text.utf8)
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": bytes.append(contentsOf: #"\""#.utf8)
            case "\\": bytes.append(contentsOf: #"\\"#.utf8)
            case "\u{8}": bytes.append(contentsOf: #"\b"#.utf8)
            case "\u{C}": bytes.append(contentsOf: #"\f"#.utf8)
            case "\n": bytes.append(contentsOf: #"\n"#.utf8)
            case "\r": bytes.append(contentsOf: #"\r"#.utf8)
            case "\t": bytes.append(contentsOf: #"\t"#.utf8)
            default:
                if isUnsafe(scalar) { appendJSONUnicodeEscape(scalar, to: &bytes) } else { UTF8.encode(scalar) { bytes.append($0) } }
            }
        }
    }

    /// JSON written by `JSONEncoder` or `JSONSerialization` brought to `jsonString(_:)`'s rule:
    /// they escape the C0 controls already, but leave DEL, C1, bidi and separator characters
    /// raw. Those can only stand inside strings (JSON's own syntax is ASCII), where `\uHHHH`
    /// means the same character: the JSON decodes to the same values.
    public static func hardenedJSON(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: { $0.value >= 0x7F && isUnsafe($0) }) else { return json }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(json.utf8.count + 16)
        for scalar in json.unicodeScalars {
            if scalar.value >= 0x7F, isUnsafe(scalar) {
                appendJSONUnicodeEscape(scalar, to: &bytes)
            } else {
                UTF8.encode(scalar) { bytes.append($0) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func appendJSONUnicodeEscape(_ scalar: Unicode.Scalar, to bytes: inout [UInt8]) {
        UTF16.encode(scalar) { unit in
            bytes.append(contentsOf: #"\u"#.utf8)
            bytes.append(contentsOf: hex(UInt32(unit), digits: 4).utf8)
        }
    }

    // MARK: XML

    /// A value as XML character data: `&` `<` `>` as entities (`>` so that `]]>` cannot
    /// appear), CR as `&#13;` (a parser would turn a raw one into a line feed), tab and line
    /// feed as is; a character XML 1.0 cannot hold at all (C0 controls but tab, LF and CR;
    /// U+FFFE, U+FFFF) as U+FFFD: never emitted, since libvirt would refuse the document.
    /// Validation refuses such values first (`Escape.xmlUnrepresentable`).
    public static func xmlText(_ text: String) -> String {
        xml(text, attribute: false)
    }

    /// A value for an XML attribute in single or double quotes: as `xmlText(_:)`, and `"`
    /// `'` as entities, tab, line feed and CR as character references (a parser would
    /// normalise raw ones to spaces, and the value would never read back the same).
    public static func xmlAttribute(_ text: String) -> String {
        xml(text, attribute: true)
    }

    /// The first character of `text` that XML 1.0 cannot hold (no escape can write it),
    /// or nil.
    public static func xmlUnrepresentable(in text: String) -> Unicode.Scalar? {
        text.unicodeScalars.first { !isXMLCharacter($0) }
    }

    private static func xml(_ text: String, attribute: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\r": out += "&#13;"
            case "\"" where attribute: out += "&quot;"
            case "'" where attribute: out += "&apos;"
            case "\t" where attribute: out += "&#9;"
            case "\n" where attribute: out += "&#10;"
            default:
                out.unicodeScalars.append(isXMLCharacter(scalar) ? scalar : "\u{FFFD}")
            }
        }
        return out
    }

    /// XML 1.0's `Char`: tab, LF, CR, U+0020 up, less surrogates (not Swift scalars anyway)
    /// and U+FFFE, U+FFFF.
    private static func isXMLCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    // MARK: Markup (SVG and HTML for people)

    /// A value as text or as a quoted attribute value in XML or HTML that people read (the
    /// plan's SVG and HTML pictures): every unsafe character, and the two XML cannot hold
    /// (U+FFFE, U+FFFF), shown visibly as `terminal(_:)` shows them (`\x1b`, `\u{202e}`: a
    /// character reference would bring the character itself back), then `&` `<` `>` `"` `'` as
    /// `&amp;` `&lt;` `&gt;` `&quot;` `&#39;`. One form fits an element's content and an
    /// attribute in single or double quotes, in XML and HTML alike (`<title>` included); it is
    /// not for a script, a style, a comment or an unquoted attribute, where no value goes.
    public static func markup(_ text: String) -> String {
        var out = ""
        appendMarkup(text, to: &out)
        return out
    }

    /// `markup(_:)` appended to `out` (for writers that build a large document).
    public static func appendMarkup(_ text: String, to out: inout String) {
        // Most values are plain ASCII with nothing to escape: one scan, one append.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F || $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) {
            out += text
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{FFFE}", "\u{FFFF}": appendVisible(scalar, to: &out)
            default:
                if isUnsafe(scalar) { appendVisible(scalar, to: &out) } else { out.unicodeScalars.append(scalar) }
            }
        }
    }

    // MARK: The unsafe characters

    /// Whether `scalar` must never reach an output raw: a control (Cc: C0, DEL, C1), a format
    /// character (Cf: bidi, zero-width, …) or a line or paragraph separator.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x20 || value == 0x7F { return true }
        if value < 0x80 { return false }
        if value <= 0x9F { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// Whether `text` has an unsafe character (a line feed not counted when `keepingNewlines`).
    /// ASCII text is checked byte by byte; the rest scalar by scalar.
    private static func needsEscaping(_ text: String, keepingNewlines: Bool) -> Bool {
        // Over the bytes in place: a long text (a plan, a table of a thousand domains) passes
        // through here on its way to the terminal.
        var text = text
        let ascii: Bool? = text.withUTF8 { bytes in
            for byte in bytes {
                if byte >= 0x80 { return false }
                if byte == 0x7F || (byte < 0x20 && !(keepingNewlines && byte == 0x0A)) { return nil }
            }
            return true
        }
        guard let ascii else { return true }
        if ascii { return false }
        return text.unicodeScalars.contains { isUnsafe($0) && !(keepingNewlines && $0 == "\n") }
    }

    private static func appendVisible(_ scalar: Unicode.Scalar, to out: inout String) {
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value <= 0xFF {
                out += "\\x" + hex(scalar.value, digits: 2)
            } else {
                out += "\\u{" + hex(scalar.value, digits: 4) + "}"
            }
        }
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return text.count >= digits ? text : String(repeating: "0", count: digits - text.count) + text
    }
}

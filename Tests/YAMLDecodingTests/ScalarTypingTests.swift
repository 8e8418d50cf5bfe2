import Testing
@testable import YAMLDecoding

struct Box<T: Decodable>: Decodable {
    var v: T
}

/// Decodes `v: <written>` as `T`: the value, or the one message it fails with.
func typed<T: Decodable>(_ type: T.Type, _ written: String) -> Result<T, Message> {
    let decoded = decode(Box<T>.self, "v: \(written)\n")
    if let value = decoded.value?.v, decoded.diagnostics.isEmpty { return .success(value) }
    return .failure(Message(decoded.diagnostics.map(\.message).joined(separator: " | ")))
}

struct Message: Error, Equatable, CustomStringConvertible {
    var text: String
    init(_ text: String) { self.text = text }
    var description: String { text }
}

@Suite struct ScalarTypingTests {
    @Test(arguments: [
        ("web", "web"), ("NO", "NO"), ("on", "on"), ("123", "123"), ("'123'", "123"), ("\"true\"", "true"),
        ("1.50", "1.50"), ("yes", "yes"), ("!!str 5", "5"), ("'null'", "null"), ("\"\"", ""),
        ("|\n  two\n  lines", "two\nlines\n"), ("52:54:00:12:34:56", "52:54:00:12:34:56"),
    ])
    func strings(_ written: String, _ expected: String) {
        #expect(typed(String.self, written) == .success(expected))
    }

    @Test(arguments: [
        ("~", "expected a string, found null"),
        ("null", "expected a string, found null"),
        ("", "expected a string, found null"),
        ("[a]", "expected a string, found a sequence"),
        ("{a: 1}", "expected a string, found a mapping"),
        ("!custom x", "unsupported tag '!custom'"),
        ("!!binary aGk=", "unsupported tag '!!binary'"),
    ])
    func notStrings(_ written: String, _ message: String) {
        #expect(typed(String.self, written) == .failure(Message(message)))
    }

    @Test(arguments: [
        ("true", true), ("false", false), ("True", true), ("FALSE", false), ("!!bool true", true),
        ("!!bool \"false\"", false),
    ])
    func booleans(_ written: String, _ expected: Bool) {
        #expect(typed(Bool.self, written) == .success(expected))
    }

    @Test(arguments: [
        ("yes", "expected true or false, found 'yes'"),
        ("no", "expected true or false, found 'no'"),
        ("on", "expected true or false, found 'on'"),
        ("off", "expected true or false, found 'off'"),
        ("1", "expected true or false, found '1'"),
        ("'true'", "expected true or false, found quoted 'true'"),
        ("\"false\"", "expected true or false, found quoted 'false'"),
        ("!!str true", "expected true or false, found the string 'true'"),
        ("~", "expected true or false, found null"),
        ("[true]", "expected true or false, found a sequence"),
    ])
    func notBooleans(_ written: String, _ message: String) {
        #expect(typed(Bool.self, written) == .failure(Message(message)))
    }

    @Test(arguments: [
        ("0", 0), ("42", 42), ("-7", -7), ("+7", 7), ("007", 7), ("!!int \"12\"", 12),
        ("9223372036854775807", Int.max), ("-9223372036854775808", Int.min),
    ])
    func integers(_ written: String, _ expected: Int) {
        #expect(typed(Int.self, written) == .success(expected))
    }

    @Test(arguments: [
        ("'5'", "expected an integer, found quoted '5'"),
        ("\"5\"", "expected an integer, found quoted '5'"),
        ("1.0", "expected an integer, found '1.0'"),
        ("1e3", "expected an integer, found '1e3'"),
        ("0x1F", "expected an integer, found '0x1F'"),
        ("1_000", "expected an integer, found '1_000'"),
        ("+", "expected an integer, found '+'"),
        ("five", "expected an integer, found 'five'"),
        ("~", "expected an integer, found null"),
        ("{}", "expected an integer, found a mapping"),
        ("9223372036854775808",
         "integer 9223372036854775808 is out of range (-9223372036854775808...9223372036854775807)"),
        ("123456789012345678901234567890123456789012345",
         "integer 123456789012345678901234567890123456789012345 is out of range (-9223372036854775808...9223372036854775807)"),
    ])
    func notIntegers(_ written: String, _ message: String) {
        #expect(typed(Int.self, written) == .failure(Message(message)))
    }

    @Test func sizedIntegers() {
        #expect(typed(UInt8.self, "255") == .success(255))
        #expect(typed(UInt8.self, "256") == .failure(Message("integer 256 is out of range (0...255)")))
        #expect(typed(UInt.self, "-1") == .failure(Message("integer -1 is out of range (0...18446744073709551615)")))
        #expect(typed(Int16.self, "-32768") == .success(-32768))
        #expect(typed(UInt64.self, "18446744073709551615") == .success(UInt64.max))
        #expect(typed(Int128.self, "-170141183460469231731687303715884105728") == .success(Int128.min))
    }

    @Test(arguments: [
        ("4", 4.0), ("4.0", 4.0), ("-0.5", -0.5), (".5", 0.5), ("1.", 1.0), ("1e3", 1000.0), ("+2.5E-1", 0.25),
        (".inf", Double.infinity), ("-.Inf", -Double.infinity), ("!!float \"2\"", 2.0),
        ("1e-400", 0.0),
    ])
    func doubles(_ written: String, _ expected: Double) {
        #expect(typed(Double.self, written) == .success(expected))
    }

    @Test func notANumberDecodes() throws {
        let value = try typed(Double.self, ".nan").get()
        #expect(value.isNaN)
    }

    @Test(arguments: [
        ("'4.0'", "expected a number, found quoted '4.0'"),
        ("four", "expected a number, found 'four'"),
        ("0x10", "expected a number, found '0x10'"),
        ("inf", "expected a number, found 'inf'"),
        ("1e", "expected a number, found '1e'"),
        (".", "expected a number, found '.'"),
        ("1e400", "number 1e400 is out of range"),
        ("~", "expected a number, found null"),
    ])
    func notDoubles(_ written: String, _ message: String) {
        #expect(typed(Double.self, written) == .failure(Message(message)))
    }

    @Test func floats() {
        #expect(typed(Float.self, "1.5") == .success(1.5))
        #expect(typed(Float.self, "1e39") == .failure(Message("number 1e39 is out of range")))
    }

    @Test(arguments: ["~", "null", "Null", "NULL", ""])
    func nullIsNilForOptionals(_ written: String) {
        #expect(typed(Int?.self, written) == .success(nil))
        #expect(typed(String?.self, written) == .success(nil))
    }

    @Test func longScalarsAreShortenedInMessages() {
        let long = String(repeating: "x", count: 50)
        #expect(typed(Int.self, long) == .failure(Message("expected an integer, found '\(String(repeating: "x", count: 40))…'")))
        #expect(typed(Int.self, "\"a\\nb\"") == .failure(Message("expected an integer, found quoted 'a\\nb'")))
    }
}

import Foundation
import Testing
import YAMLDecoding
@testable import Placement

/// Every file in Fixtures/bad gives exactly the diagnostics in its `.expected` file (one
/// `FILE:LINE:COL: severity: PATH: message` a line), and nothing loads when one is an error.
/// `VIRTPLACE_RECORD=1` rewrites the expected files (then read every change before committing).
@Suite struct BadInputCorpusTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bad")

    static let cases: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasSuffix(".expected") && !$0.hasPrefix(".") }.sorted()
    }()

    @Test func corpusIsLarge() {
        #expect(Self.cases.count >= 60)
    }

    @Test(arguments: cases)
    func diagnosticsAreExact(_ name: String) throws {
        let url = Self.directory.appendingPathComponent(name)
        let bytes = Array(try Data(contentsOf: url))
        let result = loadPlacement([PlacementSource(name: name, bytes: bytes)])
        // As the user sees them: escaped for the terminal (a tab in a key shows as `\t`), the
        // same text `virtplace validate` prints (scripts/check-examples compares that).
        let actual = result.diagnostics.map { Escape.terminal($0.formatted) }.joined(separator: "\n") + "\n"
        let expectedURL = url.appendingPathExtension("expected")
        if ProcessInfo.processInfo.environment["VIRTPLACE_RECORD"] == "1" {
            try actual.write(to: expectedURL, atomically: false, encoding: .utf8)
        }
        let expected = try String(contentsOf: expectedURL, encoding: .utf8)
        #expect(actual == expected)
        #expect(!result.diagnostics.isEmpty, "a corpus file must be diagnosed")
        // Errors mean nothing loads; warnings alone still load.
        #expect((result.spec == nil) == result.hasErrors)
        if name.hasPrefix("warn-") { #expect(!result.hasErrors) } else { #expect(result.hasErrors) }
    }
}

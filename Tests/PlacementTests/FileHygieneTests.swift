import Foundation
import Testing

/// On Linux Foundation's atomic writes (`FileManager.createFile`, `write(toFile:atomically:
/// true)`, `Data.write(to:options:)` with the atomic option) write through a new
/// `/tmp/TemporaryDirectory.*` that they never remove: the tests left thousands of them
/// behind. Neither the tests nor the product write that way (TestSupport's `createPlainFile`
/// writes in place; the product writes its state files with its own calls).
@Suite struct FileHygieneTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The Swift files under `directory`, relative to the repository.
    static func swiftFiles(_ directory: String) -> [String] {
        let base = root.appendingPathComponent(directory).path
        let files = FileManager.default.enumerator(atPath: base)?.compactMap { $0 as? String } ?? []
        return files.filter { $0.hasSuffix(".swift") }.map { directory + "/" + $0 }.sorted()
    }

    @Test func noAtomicFoundationWriteInTheTestsOrTheSources() throws {
        // Spelled in pieces, so that this file does not name them itself.
        let patterns = ["atomically" + ": true", "createFile" + "(atPath", "." + "atomic]", "." + "atomic)", "." + "atomic,"]
        let files = Self.swiftFiles("Tests") + Self.swiftFiles("Sources")
        #expect(files.count > 50, "only \(files.count) Swift files found under Tests/ and Sources/")
        for file in files {
            let text = try String(contentsOfFile: Self.root.appendingPathComponent(file).path, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                for pattern in patterns where line.contains(pattern) {
                    Issue.record("\(file):\(number + 1): \(pattern) leaves a /tmp/TemporaryDirectory.* behind on Linux: write in place (TestSupport's createPlainFile): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
    }
}
